package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import org.junit.jupiter.api.Test;

class ReplicatedDeviceTest {

    private static final long SIZE = 1 << 20;

    @Test
    void writeReachesEveryReplicaAndReadsBack() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            assertThat(dev.size()).isEqualTo(SIZE);
            f.write(dev, 4096, 8192, 1);
            dev.write(ByteBuffer.wrap(Fixture.pattern(512, 2)), 0, WriteFlag.FUA);
            System.arraycopy(Fixture.pattern(512, 2), 0, f.model, 0, 512);
            dev.sync();
            f.assertInSyncReplicasMatchModel(dev);
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            for (int i = 0; i < 3; i++) {
                assertThat(f.faults.get(i).calls(Op.SYNC)).isGreaterThanOrEqualTo(1);
            }
        }
    }

    @Test
    void failingReplicaIsDroppedWithReasonAndWriteSucceeds() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            long gen = dev.generation();
            f.faults.get(1).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 3);
            ReplicaStatus r1 = dev.status().get(1);
            assertThat(r1.state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(r1.reason()).contains("injected EIO");
            assertThat(dev.generation()).isEqualTo(gen + 1);
            // the others carry the new generation in their headers, the dropped one does not
            assertThat(ReplicaHeader.read(f.disks.get(0), "r0").generation()).isEqualTo(gen + 1);
            assertThat(ReplicaHeader.read(f.disks.get(1), "r1").generation()).isEqualTo(gen);
            f.write(dev, 8192, 4096, 4);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void belowQuorumTheWriteFailsSayingWhy() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.faults.get(1).on(Op.WRITE).fail(Fault.EIO);
            f.faults.get(2).on(Op.WRITE).fail(Fault.EIO);
            long gen = dev.generation();
            assertThatThrownBy(() -> dev.write(ByteBuffer.allocate(512), 0))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("needs 2 of 3")
                    .hasMessageContaining("failed on r1: IOException: injected EIO")
                    .hasMessageContaining("r2: IOException: injected EIO")
                    .hasMessageContaining("nothing is published");
            // a generation is never published to fewer than the mode requires: nobody moved on
            assertThat(dev.generation()).isEqualTo(gen);
            for (int i = 0; i < 3; i++) {
                assertThat(ReplicaHeader.read(f.disks.get(i), "r" + i).generation()).isEqualTo(gen);
            }
            f.faults.get(1).clearRules();
            f.faults.get(2).clearRules();
            assertThatThrownBy(() -> dev.write(ByteBuffer.allocate(512), 0))
                    .isInstanceOf(IOException.class).hasMessageContaining("reopen");
        }
        try (ReplicatedDevice dev = f.builder(2).open()) {
            assertThat(dev.status()).allMatch(s -> s.state() == ReplicaState.IN_SYNC);
            f.write(dev, 0, 512, 5);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void minInSyncOneKeepsWritingWithOneReplicaLeft() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).mode(ReplicationMode.minInSync(1)).skipInitialSync().open()) {
            f.faults.get(0).on(Op.WRITE).fail(Fault.EIO);
            f.faults.get(2).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 5);
            assertThat(dev.status()).extracting(ReplicaStatus::state)
                    .containsExactly(ReplicaState.OUT_OF_SYNC, ReplicaState.IN_SYNC, ReplicaState.OUT_OF_SYNC);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void readsPreferTheLocalReplicaAndFailOver() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).preferred("r2").skipInitialSync().open()) {
            f.write(dev, 0, 4096, 6);
            long before0 = f.faults.get(0).calls(Op.READ);
            Fixture.readAll(dev, 4096);
            assertThat(f.faults.get(2).calls(Op.READ)).isGreaterThan(0);
            assertThat(f.faults.get(0).calls(Op.READ)).isEqualTo(before0);
            f.faults.get(2).on(Op.READ).fail(Fault.EIO);
            ByteBuffer b = ByteBuffer.allocate(4096);
            dev.read(b, 0);
            assertThat(b.array()).isEqualTo(Fixture.pattern(4096, 6));
            assertThat(f.faults.get(0).calls(Op.READ)).isGreaterThan(before0);
        }
    }

    @Test
    void stalledReplicaTimesOutAndTheEngineDoesNotHang() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).writeTimeout(Duration.ofMillis(200)).skipInitialSync().open()) {
            f.faults.get(2).on(Op.WRITE).hang();
            f.write(dev, 0, 4096, 7);
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.status().get(2).reason()).contains("no answer within 200 ms");
            f.write(dev, 4096, 4096, 8);
            f.assertInSyncReplicasMatchModel(dev);
            // rebuild refuses to reuse the device while the hung write is still in it ...
            assertThatThrownBy(() -> dev.rebuild("r2")).hasMessageContaining("in flight");
            // ... and succeeds once it returned
            f.faults.get(2).clearRules();
            f.faults.get(2).releaseHangs();
            RebuildReport report = dev.rebuild("r2");
            assertThat(report.delta()).isTrue();
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    /**
     * In the target's own event log, from the start of a rebuild: a SYNC of the target completes
     * after its last data write (copy or live) and while the engine still has it REBUILDING, and
     * the header (the set's generation, FUA) is written after that SYNC; only then is it in sync.
     */
    static void assertSyncedAfterLastWriteAndBeforeInSync(RecordingDevice.Log log, String id, long dataSize,
            ReplicatedDevice dev) {
        List<RecordingDevice.Event> events = log.of(id);
        int lastData = -1;
        for (int i = 0; i < events.size(); i++) {
            if (events.get(i).isDataWrite(dataSize)) {
                lastData = i;
            }
        }
        assertThat(lastData).as("the rebuild wrote data to %s: %s", id, tail(events)).isNotNegative();
        int sync = -1;
        for (int i = lastData + 1; i < events.size(); i++) {
            if (events.get(i).kind() == RecordingDevice.Kind.SYNC) {
                sync = i;
                break;
            }
        }
        assertThat(sync).as("a SYNC of %s after its last data write, last events %s", id, tail(events)).isNotNegative();
        for (int i = 0; i < sync; i++) {
            assertThat(events.get(i).observed()).as("%s state at %s", id, events.get(i)).isNotEqualTo("IN_SYNC");
        }
        assertThat(events.get(sync).observed()).as("%s state when its SYNC returned", id).isEqualTo("REBUILDING");
        RecordingDevice.Event header = null;
        for (int i = sync + 1; i < events.size(); i++) {
            RecordingDevice.Event e = events.get(i);
            if (e.kind() == RecordingDevice.Kind.WRITE && e.offset() == dataSize && e.flag() == WriteFlag.FUA) {
                header = e;
            }
        }
        assertThat(header).as("header write (FUA) on %s after the SYNC, last events %s", id, tail(events)).isNotNull();
        assertThat(dev.status().stream().filter(s -> s.id().equals(id)).findFirst().orElseThrow().state())
                .isEqualTo(ReplicaState.IN_SYNC);
    }

    private static List<RecordingDevice.Event> tail(List<RecordingDevice.Event> events) {
        return events.subList(Math.max(0, events.size() - 4), events.size());
    }

    @Test
    void aFuaWriteReachesEveryInSyncReplicaAsFuaBeforeItIsAcknowledged() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        RecordingDevice.Log log = new RecordingDevice.Log();
        try (ReplicatedDevice dev = f.builder(1, i -> new RecordingDevice("r" + i, f.faults.get(i), log, () -> ""))
                .skipInitialSync().open()) {
            f.write(dev, 0, 4096, 50); // publishes the region's dirty bit: the FUA write below sends only data
            log.clear();
            dev.write(ByteBuffer.wrap(Fixture.pattern(4096, 51)), 8192, WriteFlag.FUA);
            RecordingDevice.Event ack = log.ack("engine");
            for (int i = 0; i < 3; i++) {
                List<RecordingDevice.Event> before = log.of("r" + i).stream().filter(e -> e.index() < ack.index())
                        .toList();
                boolean fua = before.stream().anyMatch(e -> e.kind() == RecordingDevice.Kind.WRITE
                        && e.offset() == 8192 && e.flag() == WriteFlag.FUA);
                int write = before.stream().filter(e -> e.kind() == RecordingDevice.Kind.WRITE && e.offset() == 8192)
                        .mapToInt(RecordingDevice.Event::index).findFirst().orElse(Integer.MAX_VALUE);
                boolean writeThenSync = before.stream().anyMatch(e -> e.kind() == RecordingDevice.Kind.SYNC
                        && e.index() > write);
                assertThat(fua || writeThenSync).as("r%d got the write as FUA (or write + sync) before the ack: %s",
                        i, before).isTrue();
            }
            // and a plain write is not turned into FUA (the recorder tells them apart)
            log.clear();
            dev.write(ByteBuffer.wrap(Fixture.pattern(4096, 52)), 8192);
            assertThat(log.events()).filteredOn(e -> e.offset() == 8192).isNotEmpty()
                    .allMatch(e -> e.flag() == WriteFlag.NONE);
        }
    }

    private static java.util.function.Supplier<String> stateOf(
            java.util.concurrent.atomic.AtomicReference<ReplicatedDevice> dev, String id) {
        return () -> {
            ReplicatedDevice d = dev.get();
            return d == null ? "" : d.status().stream().filter(s -> s.id().equals(id)).findFirst().orElseThrow()
                    .state().name();
        };
    }

    @Test
    void deltaRebuildCopiesOnlyDirtyRegionsAndConverges() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        RecordingDevice.Log log = new RecordingDevice.Log();
        java.util.concurrent.atomic.AtomicReference<ReplicatedDevice> holder =
                new java.util.concurrent.atomic.AtomicReference<>();
        RecordingDevice r1 = new RecordingDevice("r1", f.faults.get(1), log, stateOf(holder, "r1"));
        try (ReplicatedDevice dev = f.builder(1, i -> i == 1 ? r1 : f.faults.get(i)).skipInitialSync().open()) {
            holder.set(dev);
            f.write(dev, 0, 4096, 9);
            dev.sync();
            dev.sync(); // two quiet syncs retire the activity-log bits
            assertThat(dev.dirtyRegions()).isZero();
            f.faults.get(1).on(Op.WRITE).times(1).fail(Fault.EIO);
            f.write(dev, 5 * Fixture.REGION + 100, 300, 10);
            f.write(dev, 9 * Fixture.REGION, 4096, 11);
            log.clear(); // earlier syncs of r1 must not count
            RebuildReport r = dev.rebuild("r1");
            assertThat(r.delta()).isTrue();
            assertThat(r.regions()).isEqualTo(2);
            assertThat(r.bytesCopied()).isEqualTo(2 * Fixture.REGION);
            assertSyncedAfterLastWriteAndBeforeInSync(log, "r1", SIZE, dev);
            f.assertInSyncReplicasMatchModel(dev);
            assertThat(Fixture.readAll(f.disks.get(1), SIZE)).isEqualTo(Fixture.readAll(f.disks.get(0), SIZE));
        }
    }

    @Test
    void replacedReplicaGetsAFullRebuild() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.write(dev, 0, 65536, 12);
            f.faults.get(2).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 65536, 4096, 13);
            MemoryDevice fresh = MemoryDevice.create("r2-new", SIZE + ReplicaHeader.AREA);
            RecordingDevice.Log log = new RecordingDevice.Log();
            java.util.concurrent.atomic.AtomicReference<ReplicatedDevice> holder =
                    new java.util.concurrent.atomic.AtomicReference<>(dev);
            RecordingDevice recorded = new RecordingDevice("r2", fresh, log, stateOf(holder, "r2"));
            assertThatThrownBy(() -> dev.replace("r0", recorded)).isInstanceOf(IllegalStateException.class);
            dev.replace("r2", recorded);
            log.clear();
            RebuildReport r = dev.rebuild("r2");
            assertSyncedAfterLastWriteAndBeforeInSync(log, "r2", SIZE, dev);
            assertThat(r.delta()).isFalse();
            assertThat(r.bytesCopied()).isEqualTo(SIZE);
            assertThat(Fixture.readAll(fresh, SIZE)).isEqualTo(f.model);
            assertThat(ReplicaHeader.read(fresh, "r2").generation()).isEqualTo(dev.generation());
        }
    }

    @Test
    void restartWithAStaleReplicaNeverReadsIt() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.write(dev, 0, 4096, 14);
            f.faults.get(0).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 15); // r0 (the preferred one) misses it
        }
        f.faults.get(0).clearRules();
        try (ReplicatedDevice dev = f.builder(1).open()) {
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.status().get(0).reason()).contains("stale");
            f.assertInSyncReplicasMatchModel(dev);
            RebuildReport r = dev.rebuild("r0");
            assertThat(r.delta()).isTrue();
            f.assertInSyncReplicasMatchModel(dev);
        }
        // a fresh writer without this state finds the stale one by its header alone, and the
        // activity log on the in-sync replicas' headers still allows a delta rebuild
        Fixture g = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = g.builder(1).skipInitialSync().open()) {
            g.write(dev, 0, 4096, 16);
            g.faults.get(0).on(Op.WRITE).fail(Fault.EIO);
            g.write(dev, 0, 4096, 17);
        }
        g.faults.get(0).clearRules();
        g.state.writeZeroes(0, g.state.size(), false);
        try (ReplicatedDevice dev = g.builder(2).open()) {
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            g.assertInSyncReplicasMatchModel(dev);
            assertThat(dev.rebuild("r0").delta()).isTrue();
            g.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void newSetCopiesTheFirstReplicaOntoTheOthers() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        f.disks.get(0).write(ByteBuffer.wrap(Fixture.pattern(4096, 18)), 0);
        System.arraycopy(Fixture.pattern(4096, 18), 0, f.model, 0, 4096);
        f.disks.get(2).write(ByteBuffer.wrap(Fixture.pattern(4096, 19)), 8192);
        try (ReplicatedDevice dev = f.builder(1).open()) {
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void overlappingConcurrentWritesLeaveReplicasIdentical() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int id = t;
                fs.add(ex.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        dev.write(ByteBuffer.wrap(Fixture.pattern(8192, id * 1000 + i)), (id % 4) * 2048L + i % 3 * 512);
                    }
                    return null;
                }));
            }
            for (Future<?> x : fs) {
                x.get(60, TimeUnit.SECONDS);
            }
            byte[] r0 = Fixture.readAll(f.disks.get(0), SIZE);
            assertThat(Fixture.readAll(f.disks.get(1), SIZE)).isEqualTo(r0);
            assertThat(Fixture.readAll(f.disks.get(2), SIZE)).isEqualTo(r0);
        }
    }

    @Test
    void disjointWritesProceedInParallel() throws Exception {
        Fixture f = new Fixture(2, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            CountDownLatch entered = new CountDownLatch(1);
            f.faults.get(0).on(Op.WRITE).when(r -> r.offset() == 0).times(1).hang();
            Thread slow = Thread.ofVirtual().start(() -> {
                try {
                    dev.write(ByteBuffer.allocate(512), 0);
                } catch (IOException e) {
                    // not expected, checked below through the model
                }
            });
            assertThat(f.faults.get(0).awaitHung(1, Duration.ofSeconds(10))).isTrue();
            dev.write(ByteBuffer.allocate(512), 65536); // would block behind a global lock
            f.faults.get(0).releaseHangs();
            slow.join();
            entered.countDown();
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
        }
    }

    @Test
    void syncFailureDropsTheReplica() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.faults.get(2).on(Op.SYNC).fail(Fault.EIO);
            dev.sync();
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.status().get(2).reason()).contains("sync on");
        }
    }

    @Test
    void openFailsWhenTheModeCannotBeMet() {
        Fixture f = new Fixture(3, SIZE);
        f.faults.get(1).on(Op.SIZE).fail(Fault.EIO);
        f.faults.get(2).on(Op.SIZE).fail(Fault.EIO);
        assertThatThrownBy(() -> f.builder(1).skipInitialSync().open()).isInstanceOf(IOException.class);
    }

    /** A fake clock that only the sleeps the throttle asks for move forward. */
    static final class FakePacer implements Config.Pacer {
        final java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_000_000);
        final List<Long> sleeps = java.util.Collections.synchronizedList(new ArrayList<>());

        @Override
        public long nanoTime() {
            return now.get();
        }

        @Override
        public void sleep(long nanos) {
            sleeps.add(nanos);
            now.addAndGet(nanos);
        }

        long total() {
            synchronized (sleeps) {
                return sleeps.stream().mapToLong(Long::longValue).sum();
            }
        }
    }

    @Test
    void rebuildReportsProgressAndHonoursTheThrottle() throws IOException {
        Fixture f = new Fixture(2, SIZE);
        List<RebuildProgress> seen = new ArrayList<>();
        FakePacer pacer = new FakePacer();
        long rate = 64L << 20;
        try (ReplicatedDevice dev = f.builder(1).mode(ReplicationMode.minInSync(1)).skipInitialSync()
                .rebuildProgress(seen::add).rebuildRate(rate).rebuildPacer(pacer).open()) {
            f.write(dev, 0, 65536, 20);
            f.faults.get(1).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 21);
            f.faults.get(1).clearRules();
            dev.replace("r1", f.faults.get(1));
            assertThat(pacer.sleeps).isEmpty();
            RebuildReport r = dev.rebuild("r1");
            assertThat(seen).isNotEmpty();
            assertThat(seen).extracting(RebuildProgress::doneBytes).isSorted();
            assertThat(seen.getLast().doneBytes()).isEqualTo(seen.getLast().totalBytes()).isEqualTo(SIZE);
            assertThat(dev.status().get(1).rebuildDoneBytes()).isEqualTo(SIZE);
            assertThat(r.delta()).isFalse();
            // the copy of SIZE bytes asked for at least SIZE / rate seconds of sleep (the fake
            // clock moves only by the sleeps, so the whole time is theirs): 1 MiB at 64 MiB/s
            assertThat(pacer.total()).as("nanoseconds of sleep requested").isGreaterThanOrEqualTo(
                    SIZE * 1_000_000_000L / rate).isEqualTo(15_625_000L);
            // one sleep per 16 KiB chunk: the copy is spread out, not one sleep at the end
            assertThat(pacer.sleeps).hasSize((int) (SIZE / (16 << 10)));
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void theThrottleCountsTheTimeTheCopyItselfTook() throws IOException {
        Fixture f = new Fixture(2, SIZE);
        FakePacer pacer = new FakePacer();
        long rate = 16L << 20;
        // every chunk read from the source "takes" 0.5 ms of the fake clock
        f.faults.get(0).on(Op.READ).when(r -> {
            pacer.now.addAndGet(500_000);
            return false;
        }).fail(Fault.EIO);
        try (ReplicatedDevice dev = f.builder(1).mode(ReplicationMode.minInSync(1)).skipInitialSync()
                .rebuildRate(rate).rebuildPacer(pacer).open()) {
            f.write(dev, 0, (int) SIZE, 22);
            f.faults.get(1).on(Op.WRITE).times(1).fail(Fault.EIO);
            f.write(dev, 0, 4096, 23);
            dev.replace("r1", f.faults.get(1));
            long start = pacer.nanoTime();
            dev.rebuild("r1");
            long elapsed = pacer.nanoTime() - start;
            assertThat(elapsed).as("fake nanoseconds the rebuild took").isGreaterThanOrEqualTo(
                    SIZE * 1_000_000_000L / rate);
            // 64 chunks at 1 ms due each, 0.5 ms of which the copy took: the sleeps make up the rest
            assertThat(pacer.total()).isLessThan(SIZE * 1_000_000_000L / rate);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void aStaleMinorityCanNeverBeOpenedAsTheFreshestCopy() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.faults.get(0).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 30); // r0 is stale from here on
        }
        f.faults.get(0).clearRules();
        f.faults.get(1).on(Op.SIZE).fail(Fault.EIO);
        f.faults.get(2).on(Op.SIZE).fail(Fault.EIO);
        // QUORUM: one header is not enough to know the highest generation
        assertThatThrownBy(() -> f.builder(2).open())
                .hasMessageContaining("only 1 of 3 replicas reachable, QUORUM needs 2");
        // minInSync(1), a writer without state: every replica must be reachable
        f.state.writeZeroes(0, f.state.size(), false);
        assertThatThrownBy(() -> f.builder(2).mode(ReplicationMode.minInSync(1)).open())
                .hasMessageContaining("every replica must be reachable");
        // once the others are back, r0 is recognised as stale
        f.faults.get(1).clearRules();
        f.faults.get(2).clearRules();
        try (ReplicatedDevice dev = f.builder(2).open()) {
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    @Test
    void olderTermThanTheWritersOwnStateIsFenced() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        f.builder(5).skipInitialSync().open().close();
        assertThatThrownBy(() -> f.builder(4).open()).isInstanceOf(FencedException.class)
                .hasMessageContaining("promised term 5").hasMessageContaining("refusing term 4");
    }

    @Test
    void writeFailureSaysWhyWritesAreRefusedUntilReopenedAndIgnoresTransientFailures() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        ReplicatedDevice closed;
        IOException thrown;
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            closed = dev;
            assertThat(dev.writeFailure()).isEmpty();
            f.faults.get(2).on(Op.WRITE).fail(Fault.EIO);
            f.write(dev, 0, 4096, 40); // r2 drops out, 2 of 3 remain: a transient failure
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.writeFailure()).isEmpty();
            f.faults.get(1).on(Op.WRITE).fail(Fault.EIO); // dropping r1 would leave 1 of 3
            thrown = catchThrowableOfType(IOException.class, () -> dev.write(ByteBuffer.allocate(512), 0));
            assertThat(thrown).hasMessageContaining("writes are refused until reopened");
            assertThat(dev.writeFailure()).containsSame(thrown);
            f.faults.get(1).clearRules(); // a healed replica does not undo it: only a reopen does
            assertThat(dev.writeFailure()).containsSame(thrown);
            assertThatThrownBy(() -> dev.write(ByteBuffer.allocate(512), 0)).hasCause(thrown);
        }
        assertThat(closed.writeFailure()).containsSame(thrown); // close does not clear it
        f.faults.get(2).clearRules();
        try (ReplicatedDevice dev = f.builder(2).open()) {
            assertThat(dev.writeFailure()).isEmpty();
            f.write(dev, 0, 4096, 41);
        }
    }

    @Test
    void aFailedStateCommitIsAWriteFailure() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        FaultInjector state = FaultInjector.wrap(new Fixture.Unclosable(f.state));
        try (ReplicatedDevice dev = f.builder(1).stateDevice(state).skipInitialSync().open()) {
            assertThat(dev.writeFailure()).isEmpty();
            state.on(Op.WRITE).fail(Fault.EIO);
            // a write to a clean region publishes its dirty bit: state file first, which fails
            assertThatThrownBy(() -> f.write(dev, 0, 4096, 42)).hasMessageContaining("committing the replication state");
            assertThat(dev.writeFailure()).get().satisfies(e -> {
                assertThat(e).hasMessageContaining("writes are refused until reopened");
                assertThat(e.getCause()).hasMessageContaining("injected EIO");
            });
            state.clearRules();
            assertThat(dev.writeFailure()).isPresent();
            assertThatThrownBy(() -> dev.write(ByteBuffer.allocate(512), 0)).hasMessageContaining("state file failed");
        }
    }

    @Test
    void openRepairsTheActivityLogUnthrottledWhateverTheRebuildRate() throws IOException {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            for (int i = 0; i < 4; i++) {
                f.write(dev, i * Fixture.REGION, 4096, 50 + i); // never synced: the regions stay dirty
            }
        }
        // the dead writer's last write landed on r0 alone (r0 is the repair's source)
        byte[] torn = Fixture.pattern(4096, 60);
        f.disks.get(0).write(ByteBuffer.wrap(torn), 2 * Fixture.REGION);
        System.arraycopy(torn, 0, f.model, (int) (2 * Fixture.REGION), torn.length);
        FakePacer pacer = new FakePacer();
        List<RebuildProgress> seen = new ArrayList<>();
        // one byte per second: a throttled repair of 4 regions would ask for days of sleep
        try (ReplicatedDevice dev = f.builder(2).rebuildRate(1).rebuildPacer(pacer).rebuildProgress(seen::add).open()) {
            assertThat(seen).as("the open repaired dirty regions").isNotEmpty();
            assertThat(pacer.sleeps).as("sleeps the open asked for").isEmpty();
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            f.assertInSyncReplicasMatchModel(dev);
            // a rebuild is still throttled
            f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
            f.write(dev, 0, 4096, 61);
            pacer.sleeps.clear();
            dev.rebuild("r2");
            assertThat(pacer.sleeps).isNotEmpty();
            f.assertInSyncReplicasMatchModel(dev);
        }
    }
}

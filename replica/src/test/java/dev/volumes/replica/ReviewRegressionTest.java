package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.Test;

/** Regression tests for races found in review: each stalls one replica call at the racy moment. */
class ReviewRegressionTest {

    private static final long SIZE = 1 << 20;
    private static final long R = Fixture.REGION;

    /**
     * A device whose writes at matching offsets (or syncs) block, once armed, until released; then
     * they fail or proceed. close() does not close the wrapped device.
     */
    static final class Gate extends ForwardingDevice {
        private volatile LongPredicate writes;
        private volatile boolean syncs;
        private volatile boolean fail;
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        Gate(Device d) {
            super(d);
        }

        Gate armWrites(LongPredicate at, boolean failAfter) {
            this.fail = failAfter;
            this.writes = at;
            return this;
        }

        Gate armSync() {
            this.syncs = true;
            return this;
        }

        private void pass(String what) throws IOException {
            entered.countDown();
            try {
                if (!release.await(30, TimeUnit.SECONDS)) {
                    throw new IOException("gate never released");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted at the gate");
            }
            if (fail) {
                throw new IOException("gated " + what + " failed");
            }
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            write(src, offset, WriteFlag.NONE);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            LongPredicate p = writes;
            if (p != null && p.test(offset)) {
                writes = null;
                pass("write at " + offset);
            }
            super.write(src, offset, flag);
        }

        @Override
        public void sync() throws IOException {
            if (syncs) {
                syncs = false;
                pass("sync");
            }
            super.sync();
        }

        @Override
        public void close() {}
    }

    private static Replication.Builder builder(Fixture f, Device r0) {
        return Replication.builder().name("set").term(1).writer("w1")
                .stateDevice(new Fixture.Unclosable(f.state)).regionSize(R).rebuildChunk(16 << 10)
                .writeTimeout(Duration.ofSeconds(20))
                .replica("r0", r0).replica("r1", f.faults.get(1)).replica("r2", f.faults.get(2))
                .skipInitialSync();
    }

    /**
     * A write that finds a replica already marked out of sync (by a concurrent failing write whose
     * generation bump is still being published) must not be acknowledged before that bump is on
     * the in-sync replicas: otherwise a restart sees the dropped replica at the same generation,
     * in sync, and can read (or resync from) it without the acknowledged write.
     */
    @Test
    void writeIsNotAcknowledgedBeforeAConcurrentDropOutIsPublished() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        Gate g0 = new Gate(f.faults.get(0));
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = builder(f, g0).open()) {
            f.write(dev, 0, 4096, 1);
            f.write(dev, R, 4096, 2); // both regions' bits set and published
            long gen = dev.generation();
            f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
            g0.armWrites(at -> at >= SIZE, false); // r0's next header write stalls
            Future<?> failing = ex.submit(() -> {
                f.write(dev, 0, 4096, 3);
                return null;
            });
            assertThat(g0.entered.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            Future<?> other = ex.submit(() -> {
                f.write(dev, R, 4096, 4);
                return null;
            });
            boolean ackedEarly;
            try {
                other.get(1, TimeUnit.SECONDS);
                ackedEarly = true;
            } catch (TimeoutException e) {
                ackedEarly = false;
            }
            long r0GenAtAck = ReplicaHeader.read(f.disks.get(0), "r0").generation();
            g0.release.countDown();
            failing.get(10, TimeUnit.SECONDS);
            other.get(10, TimeUnit.SECONDS);
            assertThat(ackedEarly)
                    .as("write acknowledged while r0's header still had generation %d (the drop-out of r2 was"
                            + " not yet durable)", r0GenAtAck)
                    .isFalse();
            assertThat(ReplicaHeader.read(f.disks.get(0), "r0").generation()).isEqualTo(gen + 1);
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            ex.shutdownNow();
        }
    }

    /**
     * The rebuild source drops out (a live write to the chunk failed on it) while the rebuild
     * waits for the chunk's range: copying from it would give the target stale bytes and then
     * mark the target in sync.
     */
    @Test
    void rebuildDoesNotCopyFromASourceThatDroppedOutWhileItWaitedForTheChunk() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        Gate g0 = new Gate(f.faults.get(0));
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = builder(f, g0).mode(ReplicationMode.minInSync(1)).open()) {
            f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
            long last = R - 4096; // in the last 16 KiB chunk of region 0
            f.write(dev, last, 4096, 1);
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            g0.armWrites(at -> at < SIZE, true); // r0's next data write stalls, then fails
            Future<?> live = ex.submit(() -> {
                f.write(dev, last, 4096, 2);
                return null;
            });
            assertThat(g0.entered.await(10, TimeUnit.SECONDS)).isTrue();
            Future<RebuildReport> rebuild = ex.submit(() -> dev.rebuild("r2"));
            Engine engine = (Engine) dev;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!(engine.ranges.size() == 2 && dev.status().get(2).rebuildDoneBytes() == R - (16 << 10))
                    && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(engine.ranges.size()).as("rebuild waits for the last chunk").isEqualTo(2);
            assertThat(dev.status().get(2).rebuildDoneBytes()).isEqualTo(R - (16 << 10));
            g0.release.countDown();
            live.get(10, TimeUnit.SECONDS); // acknowledged by r1
            try {
                rebuild.get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                assertThat(e.getCause()).hasMessageContaining("dropped out");
            }
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            f.assertInSyncReplicasMatchModel(dev);
            if (dev.status().get(2).state() != ReplicaState.IN_SYNC) {
                dev.rebuild("r2");
            }
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            ex.shutdownNow();
        }
    }

    /**
     * A write still in flight when a sync began is not covered by that sync: its region's
     * activity-log bit must survive it (a replica that loses its unsynced data later would
     * otherwise be missing the region from the delta rebuild).
     */
    @Test
    void syncDoesNotRetireARegionWhoseWriteEndedDuringIt() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        Gate syncGate = new Gate(f.faults.get(0));
        Gate g0 = new Gate(syncGate);
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = builder(f, g0).open()) {
            f.write(dev, 0, 4096, 1);
            dev.sync();
            dev.sync();
            assertThat(dev.dirtyRegions()).isZero();
            f.write(dev, 3 * R, 4096, 2); // sets and publishes region 3's bit
            g0.armWrites(at -> at == 3 * R, false);
            Future<?> slow = ex.submit(() -> {
                f.write(dev, 3 * R, 4096, 3);
                return null;
            });
            assertThat(g0.entered.await(10, TimeUnit.SECONDS)).isTrue();
            dev.sync(); // the slow write is in flight through all of this sync
            syncGate.armSync();
            Future<?> second = ex.submit(() -> {
                dev.sync();
                return null;
            });
            assertThat(syncGate.entered.await(10, TimeUnit.SECONDS)).isTrue();
            g0.release.countDown(); // the write ends while the second sync runs: not covered by it
            slow.get(10, TimeUnit.SECONDS);
            syncGate.release.countDown();
            second.get(10, TimeUnit.SECONDS);
            assertThat(((Engine) dev).dirty.dirtyRegions().get(3))
                    .as("region 3's write was never covered by a completed sync")
                    .isTrue();
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            ex.shutdownNow();
        }
    }

    /** A device whose next write at a matching offset lands and then reports failure (a late timeout). */
    static final class LandThenFail extends ForwardingDevice {
        private volatile LongPredicate at;

        LandThenFail(Device d) {
            super(d);
        }

        LandThenFail arm(LongPredicate p) {
            this.at = p;
            return this;
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            write(src, offset, WriteFlag.NONE);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            LongPredicate p = at;
            super.write(src, offset, flag);
            if (p != null && p.test(offset)) {
                at = null;
                throw new IOException("write at " + offset + " landed but reported failure");
            }
        }

        @Override
        public void close() {}
    }

    private static Replication.Builder writer(Fixture f, long term, Device state, Device r2) {
        return Replication.builder().name("set").term(term).writer("w" + term)
                .stateDevice(new Fixture.Unclosable(state)).regionSize(R).rebuildChunk(16 << 10)
                .writeTimeout(Duration.ofSeconds(5))
                .replica("r0", f.faults.get(0)).replica("r1", f.faults.get(1)).replica("r2", r2);
    }

    /** A new writer on another node (no state of its own) that prefers r2: r2 must not be in sync. */
    private static void assertNewWriterDoesNotTrustR2(Fixture f) throws IOException {
        MemoryDevice otherState = MemoryDevice.create("state-elsewhere", StateStore.deviceSize(SIZE, R));
        try (ReplicatedDevice next = writer(f, 9, otherState, f.faults.get(2)).preferred("r2").open()) {
            assertThat(next.status().get(2).state()).as("r2 missed an acknowledged write").isNotEqualTo(
                    ReplicaState.IN_SYNC);
            f.assertInSyncReplicasMatchModel(next);
        }
    }

    /**
     * At open, a replica whose header write (new generation) failed is left out of sync, but the
     * write may have landed: unless the generation moves on for the others, the replica carries
     * the newest generation while missing every later write.
     */
    @Test
    void openHeaderWriteThatFailedButLandedDoesNotLeaveAStaleReplicaAtTheNewestGeneration() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).skipInitialSync().open()) {
            f.write(dev, 0, 4096, 1);
        }
        LandThenFail r2 = new LandThenFail(f.faults.get(2)).arm(at -> at >= SIZE);
        ReplicatedDevice second = writer(f, 2, f.state, r2).open();
        assertThat(second.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        f.write(second, 0, 4096, 2); // acknowledged by r0 and r1
        ((Engine) second).abandon(); // the writer's node dies
        assertNewWriterDoesNotTrustR2(f);
    }

    /** The same at the end of a rebuild: its header write failed (but landed) and it was aborted. */
    @Test
    void rebuildWhoseHeaderWriteFailedButLandedDoesNotLeaveAStaleReplicaAtTheNewestGeneration()
            throws Exception {
        Fixture f = new Fixture(3, SIZE);
        LandThenFail r2 = new LandThenFail(f.faults.get(2));
        ReplicatedDevice dev = writer(f, 1, f.state, r2).skipInitialSync().open();
        f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
        f.write(dev, 0, 4096, 1);
        assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        r2.arm(at -> at >= SIZE);
        try {
            dev.rebuild("r2");
        } catch (IOException e) {
            assertThat(e).hasMessageContaining("header write");
        }
        assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        f.write(dev, 0, 4096, 2); // acknowledged by r0 and r1
        ((Engine) dev).abandon();
        assertNewWriterDoesNotTrustR2(f);
    }

    /**
     * Interrupting a writer must not release its range while its requests still run on some
     * replicas: an overlapping write admitted then could land before it on one replica and after
     * it on the others, leaving in-sync replicas silently different.
     */
    @Test
    void interruptedWriterKeepsItsRangeUntilItsRequestsEnd() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        Gate g0 = new Gate(f.faults.get(0));
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = builder(f, g0).open()) {
            f.write(dev, 0, 4096, 1);
            g0.armWrites(at -> at == 0, false);
            Thread first = Thread.ofVirtual().start(() -> {
                try {
                    dev.write(ByteBuffer.wrap(Fixture.pattern(4096, 2)), 0);
                } catch (IOException e) {
                    // interrupted: not acknowledged, content unspecified
                }
            });
            assertThat(g0.entered.await(10, TimeUnit.SECONDS)).isTrue();
            first.interrupt();
            Future<?> second = ex.submit(() -> {
                f.write(dev, 0, 4096, 3);
                return null;
            });
            try {
                second.get(1, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                // waits for the first write's range (the fix)
            }
            g0.release.countDown();
            first.join(10_000);
            second.get(10, TimeUnit.SECONDS);
            Member m0 = ((Engine) dev).members.get(0);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (m0.inflight.get() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(1); // the first write's request on r0 lands now, whatever the engine did
            }
            byte[] r0 = Fixture.readAll(f.disks.get(0), 4096);
            for (int i = 1; i < 3; i++) {
                assertThat(java.util.Arrays.equals(Fixture.readAll(f.disks.get(i), 4096), r0))
                        .as("r%d holds the same bytes as r0", i).isTrue();
            }
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            ex.shutdownNow();
        }
    }

    /**
     * A replacement volume that was used before (here: a header with generation 1000) must not be
     * taken as the freshest copy if the writer dies before its full rebuild.
     */
    @Test
    void usedReplacementIsNeverTakenAsTheFreshestCopy() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        MemoryDevice used = MemoryDevice.create("used", SIZE + ReplicaHeader.AREA);
        new ReplicaHeader(1, 1000, SIZE, R, new byte[(int) (SIZE / R + 7) / 8]).write(used);
        ReplicatedDevice dev = writer(f, 1, f.state, f.faults.get(2)).mode(ReplicationMode.minInSync(1))
                .skipInitialSync().open();
        f.write(dev, 0, 4096, 1);
        f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
        f.write(dev, 4096, 4096, 2);
        dev.replace("r2", new Fixture.Unclosable(used));
        ((Engine) dev).abandon(); // dies before the rebuild
        MemoryDevice otherState = MemoryDevice.create("state-elsewhere", StateStore.deviceSize(SIZE, R));
        try (ReplicatedDevice next = writer(f, 9, otherState, new Fixture.Unclosable(used))
                .mode(ReplicationMode.minInSync(1)).open()) {
            assertThat(next.status()).extracting(ReplicaStatus::state)
                    .containsExactly(ReplicaState.IN_SYNC, ReplicaState.IN_SYNC, ReplicaState.OUT_OF_SYNC);
            assertThat(Fixture.readAll(next, SIZE)).isEqualTo(f.model);
        }
    }

    /**
     * A writer without state that reaches only a blank replica (a fresh replacement) while the
     * replicas with history are unreachable must not take the set for a brand-new one and serve
     * an empty volume.
     */
    @Test
    void blankReplicaAloneIsNotABrandNewSetWhileOthersAreUnreachable() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        try (ReplicatedDevice dev = f.builder(1).mode(ReplicationMode.minInSync(1)).skipInitialSync().open()) {
            f.write(dev, 0, 4096, 1);
        }
        ReplicaHeader.wipe(f.disks.get(2)); // r2 was replaced by a blank volume
        f.faults.get(0).on(Op.SIZE, Op.READ).fail(Fault.EIO);
        f.faults.get(1).on(Op.SIZE, Op.READ).fail(Fault.EIO);
        MemoryDevice otherState = MemoryDevice.create("state-elsewhere", StateStore.deviceSize(SIZE, R));
        assertThatThrownBy(() -> writer(f, 2, otherState, f.faults.get(2)).mode(ReplicationMode.minInSync(1)).open()
                .close())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("reachable");
    }

    /**
     * A write whose region's bit another write has just set, but not yet made durable, must not
     * reach the replicas before the bit is durable: if the writer dies then, the replicas may
     * differ in that region with no record of it.
     */
    @Test
    void writeWaitsForItsRegionsBitEvenWhenAnotherWriteSetIt() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        Gate g0 = new Gate(f.faults.get(0));
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = builder(f, g0).open()) {
            assertThat(dev.dirtyRegions()).isZero();
            g0.armWrites(at -> at >= SIZE, false); // r0's next header write (the publication) stalls
            Future<?> setter = ex.submit(() -> {
                f.write(dev, 2 * R, 4096, 1);
                return null;
            });
            assertThat(g0.entered.await(10, TimeUnit.SECONDS)).isTrue();
            Future<?> other = ex.submit(() -> {
                f.write(dev, 2 * R + 8192, 4096, 2);
                return null;
            });
            try {
                other.get(1, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                // waits for the publication (the fix)
            }
            ByteBuffer onR0 = ByteBuffer.allocate(4096);
            f.disks.get(0).read(onR0, 2 * R + 8192);
            boolean landed = java.util.Arrays.equals(onR0.array(), Fixture.pattern(4096, 2));
            ReplicaHeader h0 = ReplicaHeader.read(f.disks.get(0), "r0");
            boolean bitDurable = h0.bitmap() != null && h0.bitmap().length > 0 && (h0.bitmap()[0] & 4) != 0;
            g0.release.countDown();
            setter.get(10, TimeUnit.SECONDS);
            other.get(10, TimeUnit.SECONDS);
            assertThat(landed && !bitDurable).as("write landed on r0 while its region's bit was not durable there")
                    .isFalse();
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            ex.shutdownNow();
        }
    }

    /**
     * A rebuild source whose allocation map never answers must not hold the chunk's range forever:
     * the rebuild fails or goes on, and live writes to that chunk are not wedged behind it.
     */
    @Test
    void hungSourceExtentsDoNotWedgeTheRebuildOrWritesToItsChunk() throws Exception {
        Fixture f = new Fixture(3, SIZE);
        ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
        try (ReplicatedDevice dev = f.builder(1).writeTimeout(Duration.ofMillis(300)).skipInitialSync().open()) {
            f.faults.get(2).on(Op.WRITE).times(1).fail(Fault.EIO);
            f.write(dev, 0, 4096, 1);
            f.faults.get(0).on(Op.EXTENTS).hang();
            Future<RebuildReport> rebuild = ex.submit(() -> dev.rebuild("r2"));
            assertThat(f.faults.get(0).awaitHung(1, Duration.ofSeconds(10))).isTrue();
            Future<?> live = ex.submit(() -> {
                f.write(dev, 0, 4096, 2);
                return null;
            });
            live.get(10, TimeUnit.SECONDS);
            try {
                rebuild.get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                // a failed rebuild is fine; a hung one is not
            }
            f.faults.get(0).clearRules();
            f.faults.get(0).releaseHangs();
            f.assertInSyncReplicasMatchModel(dev);
        } finally {
            f.faults.get(0).releaseHangs();
            ex.shutdownNow();
        }
    }
}

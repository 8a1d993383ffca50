package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Tests of {@link FaultInjector}: one per rule kind, action and counter. */
class FaultInjectorTest {

    private static final int S = 512;
    private static final Duration PATIENCE = Duration.ofSeconds(30);

    @Test
    void nthFailsOnlyThatCallAndNothingReachesTheDevice() throws IOException {
        MemoryDevice disk = MemoryDevice.create(8 * S);
        FaultInjector faults = FaultInjector.wrap(disk);
        FaultRule rule = faults.on(Op.WRITE).nth(2).fail(Fault.EIO);
        faults.write(fill(1, S), 0);
        assertThatThrownBy(() -> faults.write(fill(2, S), S))
                .isExactlyInstanceOf(IOException.class)
                .hasMessage("injected EIO: write of 512 bytes at offset 512 on 'memory'");
        faults.write(fill(3, S), 2 * S);
        assertThat(read(disk, S, S)).as("the failed write changed nothing").isEqualTo(new byte[S]);
        assertThat(read(disk, 2 * S, S)).isEqualTo(fill(3, S).array());
        assertThat(faults.calls(Op.WRITE)).isEqualTo(3);
        assertThat(rule.seen()).isEqualTo(3);
        assertThat(rule.fired()).isEqualTo(1);
    }

    @Test
    void afterFailsEveryLaterCallWithNoSpace() throws IOException {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        faults.on(Op.SYNC).after(2).fail(Fault.NO_SPACE);
        faults.sync();
        faults.sync();
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(faults::sync).isInstanceOf(NoSpaceException.class)
                    .hasMessageContaining("injected ENOSPC").hasMessageContaining("'memory'");
        }
        assertThat(faults.calls(Op.SYNC)).isEqualTo(5);
    }

    @Test
    void countsStartWhenTheRuleIsAdded() throws IOException {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        for (int i = 0; i < 5; i++) {
            faults.write(fill(1, S), 0);
        }
        faults.on(Op.WRITE).nth(1).fail(Fault.EIO);
        assertThatThrownBy(() -> faults.write(fill(1, S), 0)).hasMessageContaining("injected EIO");
        faults.write(fill(1, S), 0);
    }

    @Test
    void predicateSelectsCallsByRangeAndFlag() throws IOException {
        MemoryDevice disk = MemoryDevice.create(16 * S);
        FaultInjector faults = FaultInjector.wrap(disk);
        faults.on(Op.READ, Op.WRITE).when(r -> r.offset() >= 8 * S).fail(Fault.EIO);
        faults.on(Op.WRITE).when(r -> r.flag() == WriteFlag.FUA).fail(Fault.NO_SPACE);
        faults.write(fill(1, S), 0);
        faults.read(ByteBuffer.allocate(S), 0);
        assertThatThrownBy(() -> faults.read(ByteBuffer.allocate(S), 8 * S)).hasMessageContaining("read of 512");
        assertThatThrownBy(() -> faults.write(fill(1, S), 9 * S)).hasMessageContaining("write of 512");
        assertThatThrownBy(() -> faults.write(fill(1, S), 0, WriteFlag.FUA))
                .isInstanceOf(NoSpaceException.class).hasMessageContaining("write (FUA)");
    }

    @Test
    void everyOperationKindCanBeFailed() throws IOException {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(8 * S));
        List<Op> failed = new ArrayList<>();
        for (Op op : Op.values()) {
            FaultRule rule = faults.on(op).fail(Fault.EIO);
            try {
                switch (op) {
                    case READ -> faults.read(ByteBuffer.allocate(S), 0);
                    case WRITE -> faults.write(fill(1, S), 0);
                    case SYNC -> faults.sync();
                    case WRITE_ZEROES -> faults.writeZeroes(0, S, false);
                    case DISCARD -> faults.discard(0, S);
                    case PREFETCH -> faults.prefetch(0, S);
                    case EXTENTS -> faults.extents(0, S);
                    case RESIZE -> faults.resize(4 * S);
                    case SIZE -> faults.size();
                }
            } catch (IOException e) {
                assertThat(e).hasMessageStartingWith("injected EIO: ");
                failed.add(op);
            }
            rule.remove();
            assertThat(faults.calls(op)).as("calls of %s", op).isEqualTo(1);
        }
        assertThat(failed).containsExactly(Op.values());
        assertThat(faults.size()).as("the resize never happened").isEqualTo(8L * S);
    }

    @Test
    void probabilityIsSeededAndReproducible() throws IOException {
        long seed = Seeds.forTest("FaultInjectorTest#probability");
        boolean[][] outcomes = new boolean[2][1000];
        for (int run = 0; run < 2; run++) {
            FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S), seed);
            faults.on(Op.READ).withProbability(0.3).fail(Fault.EIO);
            for (int i = 0; i < 1000; i++) {
                try {
                    faults.read(ByteBuffer.allocate(1), 0);
                } catch (IOException e) {
                    outcomes[run][i] = true;
                }
            }
        }
        assertThat(outcomes[1]).isEqualTo(outcomes[0]);
        int failures = 0;
        for (boolean b : outcomes[0]) {
            failures += b ? 1 : 0;
        }
        assertThat(failures).as("failures of 1000 at p=0.3, %s", Seeds.reproduceWith("FaultInjectorTest"))
                .isBetween(200, 400);
    }

    @Test
    void timesLimitsFiringsAndClearRulesStopsEverything() throws IOException {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        FaultRule twice = faults.onAny().times(2).fail(Fault.EIO);
        assertThatThrownBy(faults::sync).isInstanceOf(IOException.class);
        assertThatThrownBy(faults::size).isInstanceOf(IOException.class);
        faults.sync();
        assertThat(twice.fired()).isEqualTo(2);
        faults.on(Op.SYNC).fail(Fault.EIO);
        assertThat(faults.rules()).hasSize(2);
        faults.clearRules();
        assertThat(faults.rules()).isEmpty();
        faults.sync();
    }

    @Test
    void failAfterApplyingLetsTheWriteLandButReportsFailure() throws IOException {
        MemoryDevice disk = MemoryDevice.create(S);
        FaultInjector faults = FaultInjector.wrap(disk);
        faults.on(Op.WRITE).failAfterApplying(Fault.EIO);
        assertThatThrownBy(() -> faults.write(fill(6, S), 0)).hasMessageContaining("injected EIO");
        assertThat(read(disk, 0, S)).isEqualTo(fill(6, S).array());
    }

    @Test
    void customExceptionFactory() {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        faults.on(Op.DISCARD).failWith(r -> new ReadOnlyDeviceException("memory", r.toString()));
        assertThatThrownBy(() -> faults.discard(0, S)).isInstanceOf(ReadOnlyDeviceException.class)
                .hasMessageContaining("discard of 512 bytes at offset 0");
    }

    @Test
    void delayProceedsAndIsInterruptible() throws Exception {
        MemoryDevice disk = MemoryDevice.create(S);
        FaultInjector faults = FaultInjector.wrap(disk);
        FaultRule shortDelay = faults.on(Op.WRITE).nth(1).delay(Duration.ofMillis(1));
        faults.write(fill(2, S), 0);
        assertThat(shortDelay.fired()).isEqualTo(1);
        assertThat(read(disk, 0, S)).isEqualTo(fill(2, S).array());

        faults.on(Op.READ).delay(Duration.ofHours(1));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<Boolean> flag = new AtomicReference<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                faults.read(ByteBuffer.allocate(S), 0);
            } catch (IOException e) {
                failure.set(e);
                flag.set(Thread.currentThread().isInterrupted());
            }
        });
        reader.interrupt();
        reader.join();
        assertThat(failure.get()).isInstanceOf(InterruptedIOException.class).hasMessageContaining("delayed");
        assertThat(flag.get()).as("interrupt flag restored").isTrue();
    }

    @Test
    void hangBlocksUntilReleasedThenProceeds() throws Exception {
        MemoryDevice disk = MemoryDevice.create(S);
        FaultInjector faults = FaultInjector.wrap(disk);
        FaultRule hang = faults.on(Op.WRITE).hang();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread writer = Thread.ofVirtual().start(() -> {
            try {
                faults.write(fill(4, S), 0);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        assertThat(faults.awaitHung(1, PATIENCE)).isTrue();
        assertThat(faults.hungCalls()).isEqualTo(1);
        assertThat(read(disk, 0, S)).as("hung write has not landed").isEqualTo(new byte[S]);
        hang.release();
        writer.join();
        assertThat(failure.get()).isNull();
        assertThat(faults.hungCalls()).isZero();
        assertThat(read(disk, 0, S)).isEqualTo(fill(4, S).array());
    }

    @Test
    void hangIsInterruptibleAndCloseReleasesHangs() throws Exception {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        faults.on(Op.SYNC).hang();
        AtomicReference<Throwable> first = new AtomicReference<>();
        Thread interrupted = Thread.ofVirtual().start(() -> {
            try {
                faults.sync();
            } catch (Throwable e) {
                first.set(e);
            }
        });
        assertThat(faults.awaitHung(1, PATIENCE)).isTrue();
        interrupted.interrupt();
        interrupted.join();
        assertThat(first.get()).isInstanceOf(InterruptedIOException.class).hasMessageContaining("hung");

        AtomicReference<Throwable> second = new AtomicReference<>();
        Thread closedUnder = Thread.ofVirtual().start(() -> {
            try {
                faults.sync();
            } catch (Throwable e) {
                second.set(e);
            }
        });
        assertThat(faults.awaitHung(1, PATIENCE)).isTrue();
        faults.close();
        closedUnder.join();
        assertThat(second.get()).as("released into a closed device").isInstanceOf(DeviceClosedException.class);
    }

    @Test
    void rulesChangeSafelyWhileCallsRun() throws Exception {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(64 * S), Seeds.forTest("FaultInjectorTest#rulesChange"));
        int threads = 4;
        int perThread = 2000;
        java.util.concurrent.atomic.AtomicLong injected = new java.util.concurrent.atomic.AtomicLong();
        AtomicReference<Throwable> wrong = new AtomicReference<>();
        List<Thread> callers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            callers.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; i < perThread; i++) {
                    try {
                        if (i % 2 == 0) {
                            faults.write(fill(id, S), (long) (id * 16 + i % 16) * S);
                        } else {
                            faults.read(ByteBuffer.allocate(S), (long) (id * 16 + i % 16) * S);
                        }
                    } catch (IOException e) {
                        if (e.getMessage().startsWith("injected")) {
                            injected.incrementAndGet();
                        } else {
                            wrong.set(e);
                        }
                    } catch (Throwable e) {
                        wrong.set(e);
                    }
                }
            }));
        }
        for (int k = 0; k < 200; k++) {
            FaultRule a = faults.on(Op.WRITE).withProbability(0.5).fail(Fault.EIO);
            FaultRule b = faults.on(Op.READ).after(1).times(3).fail(Fault.NO_SPACE);
            Thread.yield();
            a.remove();
            if (k % 2 == 0) {
                b.remove();
            } else {
                faults.clearRules();
            }
        }
        for (Thread c : callers) {
            c.join();
        }
        assertThat(wrong.get()).isNull();
        assertThat(faults.calls(Op.WRITE) + faults.calls(Op.READ)).isEqualTo((long) threads * perThread);
        assertThat(faults.rules()).isEmpty();
    }

    @Test
    void buildersRejectNonsense() {
        FaultInjector faults = FaultInjector.wrap(MemoryDevice.create(S));
        assertThatThrownBy(() -> faults.on(Op.READ).nth(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> faults.on(Op.READ).after(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> faults.on(Op.READ).withProbability(2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> faults.on(Op.READ).times(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> faults.on(Op.READ).delay(Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> faults.on(null)).isInstanceOf(IllegalArgumentException.class);
        assertThat(faults.rules()).isEmpty();
    }

    private static ByteBuffer fill(int value, int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    private static byte[] read(dev.volumes.device.Device d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }
}

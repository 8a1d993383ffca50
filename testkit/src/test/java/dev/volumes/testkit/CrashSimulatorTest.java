package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Capability;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Directed tests of {@link CrashSimulator}: each promise and each freedom of the disk model. */
class CrashSimulatorTest {

    private static final int S = 512;
    private static final int TRIES = 400;

    @Test
    void syncedWritesSurviveEveryCrash() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#syncedWritesSurviveEveryCrash");
        for (int i = 0; i < TRIES; i++) {
            MemoryDevice disk = MemoryDevice.create(16 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(1, 8 * S), 0);
            sim.sync();
            sim.write(fill(2, 4 * S), 4 * S);   // overwrites half the synced range, unsynced
            sim.write(fill(3, 4 * S), 12 * S);
            CrashReport report = sim.crash();
            String why = report + "\n" + Seeds.reproduceWith("CrashSimulatorTest#syncedWritesSurviveEveryCrash");
            for (int s = 0; s < 4; s++) {
                assertThat(sector(disk, s)).as("synced sector %d, %s", s, why).isEqualTo(pattern(1));
            }
            for (int s = 4; s < 8; s++) {
                assertThat(sector(disk, s)).as("sector %d, %s", s, why).isIn(pattern(1), pattern(2));
            }
        }
    }

    @Test
    void fuaWriteSurvivesEveryCrashAndMasksEarlierPendingWrites() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#fuaWrite");
        CrashSimulator.Options keepAll = CrashSimulator.Options.DEFAULT.withKeepProbability(1);
        for (int i = 0; i < TRIES; i++) {
            MemoryDevice disk = MemoryDevice.create(8 * S);
            CrashSimulator.Options options = i % 2 == 0 ? keepAll : keepAll.withKeepProbability(0);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i, options);
            sim.write(fill(1, 2 * S), 0);                  // pending, older than the FUA write
            sim.write(fill(2, 2 * S), 0, WriteFlag.FUA);
            sim.write(fill(3, S), 4 * S);
            CrashReport report = sim.crash();
            assertThat(sector(disk, 0)).as("%s", report).isEqualTo(pattern(2));
            assertThat(sector(disk, 1)).as("%s", report).isEqualTo(pattern(2));
            assertThat(report.pendingWrites()).isEqualTo(2);
        }
    }

    @Test
    void unsyncedWriteCanBeLost() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#unsyncedWriteCanBeLost");
        int lost = 0;
        int kept = 0;
        for (int i = 0; i < TRIES; i++) {
            MemoryDevice disk = MemoryDevice.create(4 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(7, S), S);
            sim.crash();
            if (Arrays.equals(sector(disk, 1), pattern(0))) {
                lost++;
            } else {
                assertThat(sector(disk, 1)).isEqualTo(pattern(7));
                kept++;
            }
        }
        assertThat(lost).as("crashes that lost the write").isPositive();
        assertThat(kept).as("crashes that kept the write").isPositive();
    }

    @Test
    void laterWriteCanLandWhileEarlierIsLost() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#laterWriteCanLand");
        boolean reordered = false;
        for (int i = 0; i < TRIES && !reordered; i++) {
            MemoryDevice disk = MemoryDevice.create(8 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(1, S), 0);
            sim.write(fill(2, S), 5 * S);
            sim.crash();
            reordered = Arrays.equals(sector(disk, 0), pattern(0)) && Arrays.equals(sector(disk, 5), pattern(2));
        }
        assertThat(reordered).as("some crash kept the second write and lost the first").isTrue();
    }

    @Test
    void olderWriteCanLandOverNewerOnlyWhenReordering() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#olderOverNewer");
        CrashSimulator.Options keepAll = CrashSimulator.Options.DEFAULT.withKeepProbability(1);
        boolean olderWon = false;
        for (int i = 0; i < TRIES; i++) {
            MemoryDevice reorderedDisk = MemoryDevice.create(2 * S);
            CrashSimulator reordering = CrashSimulator.wrap(reorderedDisk, base + i, keepAll);
            MemoryDevice inOrderDisk = MemoryDevice.create(2 * S);
            CrashSimulator inOrder = CrashSimulator.wrap(inOrderDisk, base + i, keepAll.withReorder(false));
            for (CrashSimulator sim : new CrashSimulator[] {reordering, inOrder}) {
                sim.write(fill(1, S), 0);
                sim.write(fill(2, S), 0);
                sim.crash();
            }
            olderWon |= Arrays.equals(sector(reorderedDisk, 0), pattern(1));
            assertThat(sector(inOrderDisk, 0)).isEqualTo(pattern(2));
        }
        assertThat(olderWon).as("with reordering some crash left the older write on top").isTrue();
    }

    @Test
    void unsyncedWriteCanBeTornAtSectorGranularity() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#torn");
        CrashSimulator.Options alwaysTear = CrashSimulator.Options.DEFAULT.withKeepProbability(1).withTearProbability(1);
        for (int i = 0; i < TRIES / 4; i++) {
            MemoryDevice disk = MemoryDevice.create(8 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i, alwaysTear);
            sim.write(fill(9, 8 * S), 0);
            CrashReport report = sim.crash();
            assertThat(report.tornWrites()).isEqualTo(1);
            int landed = 0;
            for (int s = 0; s < 8; s++) {
                byte[] got = sector(disk, s);
                assertThat(got).as("sector %d is whole: old or new, %s", s, report).isIn(pattern(0), pattern(9));
                landed += got[0] == 9 ? 1 : 0;
            }
            assertThat(landed).as("a torn write lands some sectors, not all, %s", report).isBetween(1, 7);
        }
        MemoryDevice disk = MemoryDevice.create(8 * S);
        CrashSimulator sim = CrashSimulator.wrap(disk, base, alwaysTear.withTearProbability(0));
        sim.write(fill(9, 8 * S), 0);
        assertThat(sim.crash().tornWrites()).isZero();
        assertThat(read(disk, 0, 8 * S)).isEqualTo(fill(9, 8 * S).array());
    }

    @Test
    void subSectorWriteLandsAsTheWholeSectorItProduced() throws IOException {
        CrashSimulator.Options keepAll = CrashSimulator.Options.DEFAULT.withKeepProbability(1).withReorder(false);
        MemoryDevice disk = MemoryDevice.create(2 * S);
        CrashSimulator sim = CrashSimulator.wrap(disk, 42, keepAll);
        sim.write(fill(1, 10), 0);
        sim.write(fill(2, 10), 100);
        byte[] running = read(disk, 0, S);
        sim.crash();
        assertThat(read(disk, 0, S)).isEqualTo(running);
    }

    @Test
    void writeZeroesAndDiscardArePendingWritesOfZeros() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#zeroes");
        boolean zeroed = false;
        boolean old = false;
        for (int i = 0; i < TRIES; i++) {
            MemoryDevice disk = MemoryDevice.create(8 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(5, 8 * S), 0);
            sim.sync();
            sim.writeZeroes(0, 4 * S, i % 2 == 0);
            sim.discard(4 * S, 4 * S);
            assertThat(read(sim, 0, 8 * S)).isEqualTo(new byte[8 * S]);
            sim.crash();
            for (int s = 0; s < 8; s++) {
                byte[] got = sector(disk, s);
                assertThat(got).isIn(pattern(0), pattern(5));
                zeroed |= got[0] == 0;
                old |= got[0] == 5;
            }
        }
        assertThat(zeroed && old).isTrue();
    }

    @Test
    void armPowerCutRefusesExactlyTheNthMutatingCall() throws IOException {
        MemoryDevice disk = MemoryDevice.create(8 * S);
        CrashSimulator sim = CrashSimulator.wrap(disk, 7);
        sim.armPowerCut(3);
        sim.write(fill(1, S), 0);
        sim.read(ByteBuffer.allocate(S), 0);                 // reads do not count
        sim.sync();
        assertThat(sim.powerLost()).isFalse();
        assertThatThrownBy(() -> sim.write(fill(2, S), S))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("simulated power loss")
                .hasMessageContaining("mutating call #3")
                .hasMessageContaining("seed 0x7");
        assertThat(sim.powerLost()).isTrue();
        assertThat(sector(disk, 1)).as("the cut write never reached the disk").isEqualTo(pattern(0));
        assertThatThrownBy(() -> sim.read(ByteBuffer.allocate(S), 0)).hasMessageContaining("simulated power loss");
        assertThatThrownBy(sim::sync).hasMessageContaining("simulated power loss");
        assertThat(sim.mutations()).isEqualTo(3);
        CrashReport report = sim.crash();
        assertThat(report.pendingWrites()).isZero();
        assertThat(sector(disk, 0)).isEqualTo(pattern(1));
        assertThatThrownBy(() -> sim.read(ByteBuffer.allocate(S), 0)).isInstanceOf(DeviceClosedException.class);
        assertThatThrownBy(sim::crash).isInstanceOf(DeviceClosedException.class);
        assertThatThrownBy(() -> sim.armPowerCut(1)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void armPowerCutAtEveryPointStopsAtThatCall() throws IOException {
        for (int n = 1; n <= 6; n++) {
            CrashSimulator sim = CrashSimulator.wrap(MemoryDevice.create(8 * S), n);
            sim.armPowerCut(n);
            int done = 0;
            try {
                for (int op = 0; op < 10; op++) {
                    switch (op % 3) {
                        case 0 -> sim.write(fill(op, S), op % 8 * S);
                        case 1 -> sim.writeZeroes(0, S, false);
                        default -> sim.sync();
                    }
                    done++;
                }
            } catch (IOException e) {
                assertThat(e).hasMessageContaining("simulated power loss");
            }
            assertThat(done).as("calls completed before the cut armed at %d", n).isEqualTo(n - 1);
        }
        CrashSimulator now = CrashSimulator.wrap(MemoryDevice.create(S), 1);
        now.armPowerCut(0);
        assertThat(now.powerLost()).isTrue();
        assertThatThrownBy(() -> now.write(fill(1, S), 0)).hasMessageContaining("simulated power loss");
    }

    @Test
    void resizeIsPendingUntilSync() throws IOException {
        long base = Seeds.forTest("CrashSimulatorTest#resize");
        boolean sawOld = false;
        boolean sawNew = false;
        for (int i = 0; i < TRIES / 4; i++) {
            MemoryDevice disk = MemoryDevice.create(8 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(4, 8 * S), 0);
            sim.sync();
            sim.resize(2 * S + 100);
            sim.resize(6 * S);
            assertThat(read(sim, 2 * S + 100, 4 * S - 100)).isEqualTo(new byte[4 * S - 100]);
            sim.crash();
            long size = disk.size();
            assertThat(size).isIn(8L * S, 2L * S + 100, 6L * S);
            sawOld |= size == 8L * S;
            sawNew |= size == 6L * S;
            assertThat(read(disk, 0, 2 * S)).isEqualTo(fill(4, 2 * S).array());
        }
        assertThat(sawOld && sawNew).isTrue();
        MemoryDevice disk = MemoryDevice.create(8 * S);
        CrashSimulator sim = CrashSimulator.wrap(disk, base);
        sim.resize(3 * S);
        sim.sync();
        sim.crash();
        assertThat(disk.size()).isEqualTo(3L * S);
    }

    @Test
    void sameSeedSameOperationsGiveTheSameDisk() throws IOException {
        byte[][] results = new byte[3][];
        long[] seeds = {11, 11, 12};
        for (int r = 0; r < 3; r++) {
            MemoryDevice disk = MemoryDevice.create(64 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, seeds[r]);
            for (int w = 0; w < 64; w++) {
                sim.write(fill(w + 1, 3 * S + w), (w * 7L % 61) * S + w);
            }
            sim.crash();
            results[r] = read(disk, 0, 64 * S);
        }
        assertThat(results[1]).isEqualTo(results[0]);
        assertThat(results[2]).isNotEqualTo(results[0]);
    }

    @Test
    void closeDetachesWithoutClosingTheDisk() throws IOException {
        MemoryDevice disk = MemoryDevice.create(4 * S);
        CrashSimulator sim = CrashSimulator.wrap(disk, 0x5eedL);
        assertThat(sim.toString()).contains("seed=0x5eed");
        assertThat(sim.capabilities().has(Capability.VOLATILE)).isFalse();
        sim.write(fill(3, S), 0);
        sim.close();
        sim.close();
        assertThatThrownBy(() -> sim.write(fill(3, S), 0)).isInstanceOf(DeviceClosedException.class);
        assertThat(sector(disk, 0)).isEqualTo(pattern(3));
        assertThat(disk.size()).isEqualTo(4L * S);
    }

    @Test
    void concurrentWritersKeepEverythingSyncedBeforeTheCrash() throws Exception {
        long base = Seeds.forTest("CrashSimulatorTest#concurrentWriters");
        int threads = 8;
        int perThread = 16;
        for (int round = 0; round < 20; round++) {
            MemoryDevice disk = MemoryDevice.create((long) threads * perThread * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + round);
            // phase 1: every thread fills its own range, then one sync covers all of it
            runThreads(threads, t -> {
                for (int k = 0; k < perThread; k++) {
                    sim.write(fill(t + 1, S), ((long) t * perThread + k) * S);
                }
            });
            sim.sync();
            // phase 2: concurrent overwrites of the first half of every range, racing syncs
            runThreads(threads, t -> {
                for (int k = 0; k < perThread / 2; k++) {
                    sim.write(fill(t + 101, S), ((long) t * perThread + k) * S);
                    if (k % 3 == 0) {
                        sim.sync();
                    }
                }
            });
            CrashReport report = sim.crash();
            for (int t = 0; t < threads; t++) {
                for (int k = 0; k < perThread; k++) {
                    byte[] got = sector(disk, (long) t * perThread + k);
                    if (k < perThread / 2) {
                        assertThat(got).as("%s", report).isIn(pattern(t + 1), pattern(t + 101));
                    } else {
                        assertThat(got).as("synced, %s", report).isEqualTo(pattern(t + 1));
                    }
                }
            }
        }
    }

    @Test
    void crashWhileWritersRunKeepsSyncedDataAndStopsThem() throws Exception {
        long base = Seeds.forTest("CrashSimulatorTest#crashWhileWritersRun");
        for (int round = 0; round < 10; round++) {
            MemoryDevice disk = MemoryDevice.create(64 * S);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + round);
            sim.write(fill(1, 64 * S), 0);
            sim.sync();
            java.util.concurrent.CountDownLatch running = new java.util.concurrent.CountDownLatch(4);
            java.util.concurrent.atomic.AtomicReference<Throwable> wrong = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.List<Thread> writers = new java.util.ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                writers.add(Thread.ofVirtual().start(() -> {
                    running.countDown();
                    try {
                        for (long k = 0; ; k++) {
                            sim.write(fill(2 + id, S), (id * 8 + k % 8) * S);   // sectors 0..31 only
                        }
                    } catch (DeviceClosedException expected) {
                        // the crash stopped this writer
                    } catch (Throwable e) {
                        wrong.set(e);
                    }
                }));
            }
            running.await();
            CrashReport report = sim.crash();
            for (Thread w : writers) {
                w.join();
            }
            assertThat(wrong.get()).isNull();
            for (int s = 0; s < 64; s++) {
                byte[] got = sector(disk, s);
                if (s < 32) {
                    assertThat(got).as("sector %d, %s", s, report).isIn(pattern(1), pattern(2 + s / 8));
                } else {
                    assertThat(got).as("untouched synced sector %d, %s", s, report).isEqualTo(pattern(1));
                }
            }
        }
    }

    interface Body {
        void run(int thread) throws IOException;
    }

    static void runThreads(int n, Body body) throws Exception {
        java.util.List<Thread> started = new java.util.ArrayList<>();
        java.util.concurrent.ConcurrentLinkedQueue<Throwable> errors = new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int t = 0; t < n; t++) {
            int id = t;
            started.add(Thread.ofVirtual().start(() -> {
                try {
                    body.run(id);
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        for (Thread t : started) {
            t.join();
        }
        if (!errors.isEmpty()) {
            throw new AssertionError("a writer thread failed", errors.peek());
        }
    }

    @Test
    void optionsRejectNonsense() {
        CrashSimulator.Options d = CrashSimulator.Options.DEFAULT;
        assertThatThrownBy(() -> d.withKeepProbability(1.5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withTearProbability(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withSectorSize(1000)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CrashSimulator.wrap(null, 1)).isInstanceOf(IllegalArgumentException.class);
        MemoryDevice closed = MemoryDevice.create(S);
        closed.close();
        assertThatThrownBy(() -> CrashSimulator.wrap(closed, 1)).isInstanceOf(java.io.UncheckedIOException.class)
                .hasMessageContaining("closed");
    }

    static ByteBuffer fill(int value, int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    static byte[] pattern(int value) {
        return fill(value, S).array();
    }

    static byte[] sector(dev.volumes.device.Device d, long s) throws IOException {
        return read(d, s * S, S);
    }

    static byte[] read(dev.volumes.device.Device d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }
}

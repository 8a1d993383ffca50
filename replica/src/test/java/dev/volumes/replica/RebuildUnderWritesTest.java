package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Randomized: a replica drops out (or is replaced), writes go on, then it is rebuilt while
 * several threads keep writing; afterwards every replica must be byte-identical and hold every
 * acknowledged write. Each thread owns a stripe of 4 KiB blocks so the model is exact.
 */
class RebuildUnderWritesTest {

    private static final String TEST = "RebuildUnderWritesTest#rebuildUnderConcurrentWritesConverges";
    private static final long SIZE = 512 << 10;
    private static final int BLOCK = 4096;
    private static final int THREADS = 4;

    @Test
    void rebuildUnderConcurrentWritesConverges() throws Exception {
        int runs = Seeds.scaled(200);
        long base = Seeds.forTest(TEST);
        for (int i = 0; i < runs; i++) {
            long seed = base + i;
            try {
                runOne(seed);
            } catch (Throwable t) {
                throw new AssertionError("seed 0x" + Long.toHexString(seed) + " (iteration " + i + "): " + t + "\n"
                        + Seeds.reproduceWith(TEST), t);
            }
        }
    }

    private void runOne(long seed) throws Exception {
        Random rnd = new Random(seed);
        Fixture f = new Fixture(3, SIZE);
        int victim = rnd.nextInt(3);
        boolean replace = rnd.nextInt(4) == 0;
        try (ReplicatedDevice dev = f.builder(1).preferred("r" + rnd.nextInt(3)).skipInitialSync()
                .rebuildChunk(BLOCK * (1 + rnd.nextInt(4))).open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int k = 0; k < 10; k++) {
                randomWrite(f, dev, rnd, rnd.nextInt(THREADS));
            }
            if (rnd.nextBoolean()) {
                dev.sync();
                dev.sync();
            }
            f.faults.get(victim).on(Op.WRITE).times(1).fail(Fault.EIO);
            for (int k = 0; k < 10 + rnd.nextInt(20); k++) {
                randomWrite(f, dev, rnd, rnd.nextInt(THREADS));
            }
            assertThat(dev.status().get(victim).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            if (replace) {
                dev.replace("r" + victim, f.faults.get(victim));
            }
            List<Future<?>> writers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int stripe = t;
                Random tr = new Random(seed * 31 + t);
                writers.add(ex.submit(() -> {
                    for (int k = 0; k < 40; k++) {
                        randomWrite(f, dev, tr, stripe);
                        if (tr.nextInt(10) == 0) {
                            Thread.yield();
                        }
                    }
                    return null;
                }));
            }
            RebuildReport report = dev.rebuild("r" + victim);
            for (Future<?> w : writers) {
                w.get(60, TimeUnit.SECONDS);
            }
            assertThat(report.delta()).isEqualTo(!replace);
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            byte[] r0 = Fixture.readAll(f.disks.get(0), SIZE);
            for (int r = 1; r < 3; r++) {
                byte[] other = Fixture.readAll(f.disks.get(r), SIZE);
                if (!Arrays.equals(r0, other)) {
                    throw new AssertionError("replica r" + r + " differs from r0 at byte " + Arrays.mismatch(r0, other)
                            + " after rebuilding r" + victim + " (" + report + ")");
                }
            }
            f.assertInSyncReplicasMatchModel(dev);
        }
    }

    /** A write, write-zeroes or discard inside one block of {@code stripe}. */
    private static void randomWrite(Fixture f, ReplicatedDevice dev, Random rnd, int stripe) throws IOException {
        int blocks = (int) (SIZE / BLOCK);
        int block = rnd.nextInt(blocks / THREADS) * THREADS + stripe;
        int off = rnd.nextInt(BLOCK / 512) * 512;
        int len = (1 + rnd.nextInt((BLOCK - off) / 512)) * 512;
        long at = (long) block * BLOCK + off;
        int kind = rnd.nextInt(10);
        if (kind == 0) {
            dev.writeZeroes(at, len, rnd.nextBoolean());
            synchronized (f.model) {
                Arrays.fill(f.model, (int) at, (int) at + len, (byte) 0);
            }
        } else if (kind == 1) {
            dev.discard(at, len);
            synchronized (f.model) {
                Arrays.fill(f.model, (int) at, (int) at + len, (byte) 0);
            }
        } else {
            f.write(dev, at, len, rnd.nextLong());
        }
    }
}

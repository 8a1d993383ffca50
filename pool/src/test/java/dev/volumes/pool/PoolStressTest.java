package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Concurrency harness for the paths a single-threaded test never reaches: a volume and its clone
 * writing the same shared blocks (shadowing, pins, copy-on-write frees), readers racing those
 * writes, commits running during all of it (in-flight commit accounting, deferred frees and the
 * reader drain before a freed block is reused), and snapshots. Invariants checked while running:
 * every block read is one write's bytes and belongs to that volume's history. At the end: each
 * volume equals its writer's model, check() is clean, and a reopened pool agrees.
 */
class PoolStressTest {

    private static final int BS = 4096;
    private static final int BLOCKS = 96;

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void cloneAndOriginWritersReadersSyncsAndSnapshotsKeepEveryInvariant() throws Exception {
        String test = "PoolStressTest#cloneAndOriginWritersReadersSyncsAndSnapshotsKeepEveryInvariant";
        long seed = Seeds.forTest(test);
        MemoryDevice disk = MemoryDevice.create("disk", 32L << 20);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("a", (long) BLOCKS * BS);
        long[][] models = new long[2][BLOCKS];
        try (Device a = pool.openVolume("a")) {
            for (int b = 0; b < BLOCKS; b++) {
                writeTag(a, b, tag(0, 0, b));
                models[0][b] = tag(0, 0, b);
            }
        }
        pool.sync();
        pool.clone("a", "b");
        models[1] = models[0].clone();
        String[] names = {"a", "b"};
        int writes = Seeds.scaled(40_000);
        java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(3);
        AtomicBoolean writersDone = new AtomicBoolean();
        java.util.concurrent.atomic.AtomicLong reads = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong syncs = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong progress = new java.util.concurrent.atomic.AtomicLong();
        ExecutorService exec = Executors.newCachedThreadPool(); // platform threads: preemptive interleaving
        List<Future<?>> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            int id = w;
            writers.add(exec.submit(() -> {
                Random rnd = new Random(seed + id);
                start.await();
                try (Device d = pool.openVolume(names[id])) {
                    for (int seq = 1; seq <= writes; seq++) {
                        int b = rnd.nextInt(BLOCKS);
                        long t = tag(id, seq, b);
                        writeTag(d, b, t);
                        models[id][b] = t;
                        progress.incrementAndGet();
                        if (rnd.nextInt(50) == 0) {
                            d.sync();
                        }
                    }
                }
                return null;
            }));
        }
        List<Future<?>> others = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            int id = r;
            others.add(exec.submit(() -> {
                Random rnd = new Random(seed + 10 + id);
                start.countDown();
                try (Device d = pool.openVolume(names[id])) {
                    ByteBuffer buf = ByteBuffer.allocate(4 * BS);
                    while (!writersDone.get()) {
                        int b = rnd.nextInt(BLOCKS - 4);
                        d.read(buf.clear(), (long) b * BS);
                        reads.incrementAndGet();
                        Thread.yield();
                        for (int k = 0; k < 4; k++) {
                            checkBlock(buf, k, id, b + k, names[id]);
                        }
                    }
                }
                return null;
            }));
        }
        others.add(exec.submit(() -> {
            int n = 0;
            long next = 0;
            start.countDown();
            while (!writersDone.get()) {
                if (progress.get() < next) {
                    Thread.yield();
                    continue;
                }
                next = progress.get() + 25; // a commit every 25 writes, racing them
                pool.sync();
                syncs.incrementAndGet();
                if (n++ % 5 == 0) {
                    pool.snapshot("a", "a@" + n);
                }
            }
            return null;
        }));
        for (Future<?> f : writers) {
            f.get();
        }
        writersDone.set(true);
        for (Future<?> f : others) {
            f.get();
        }
        exec.shutdown();
        System.out.println("stress: " + 2 * writes + " writes, " + reads.get() + " reads of 4 blocks, " + syncs.get()
                + " syncs by the syncer, " + (pool.list().size() - 2) + " snapshots");
        assertThat(reads.get()).isPositive();
        assertThat(syncs.get()).isPositive();
        verify(pool, names, models);
        assertThat(pool.check().problems()).isEmpty();
        pool.sync();
        Pool again = Pool.open(disk);
        verify(again, names, models);
        assertThat(again.check().problems()).isEmpty();
    }

    private static long tag(int writer, int seq, int block) {
        return ((long) writer << 56) | ((long) seq << 16) | block;
    }

    private static void writeTag(Device d, int block, long tag) throws java.io.IOException {
        ByteBuffer buf = ByteBuffer.allocate(BS);
        while (buf.hasRemaining()) {
            buf.putLong(tag);
        }
        d.write(buf.flip(), (long) block * BS);
    }

    private static void checkBlock(ByteBuffer buf, int k, int volume, int block, String name) {
        long t = buf.getLong(k * BS);
        for (int i = 0; i < BS; i += 8) {
            if (buf.getLong(k * BS + i) != t) {
                throw new AssertionError(name + " block " + block + " mixes two writes: 0x" + Long.toHexString(t)
                        + " and 0x" + Long.toHexString(buf.getLong(k * BS + i)) + " at byte " + i);
            }
        }
        assertThat(t & 0xFFFF).as(name + " block " + block + " holds bytes written to that block").isEqualTo(block);
        long writer = t >>> 56;
        long seq = (t >>> 16) & 0xFF_FFFF_FFFFL;
        assertThat(writer == volume || seq == 0).as(name + " block " + block + " holds its own writer's bytes or the"
                + " shared origin's, found writer " + writer).isTrue();
    }

    private static void verify(Pool pool, String[] names, long[][] models) throws Exception {
        for (int v = 0; v < names.length; v++) {
            try (Device d = pool.openVolume(names[v])) {
                ByteBuffer all = ByteBuffer.allocate(BLOCKS * BS);
                d.read(all, 0);
                for (int b = 0; b < BLOCKS; b++) {
                    assertThat(all.getLong(b * BS)).as(names[v] + " block " + b).isEqualTo(models[v][b]);
                    checkBlock(all, b, v, b, names[v]);
                }
            }
        }
    }
}

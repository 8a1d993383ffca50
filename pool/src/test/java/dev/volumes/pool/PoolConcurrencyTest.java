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
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Snapshots taken during concurrent writes: every block of every snapshot holds exactly one
 * write's bytes (never halves of two), and at least the last write to that block that completed
 * before the snapshot began. Writers own disjoint block ranges so "last" is well defined; each
 * write covers two blocks, so a snapshot splitting a write would show up as a mixed block pair.
 * Concurrent syncs run too.
 */
class PoolConcurrencyTest {

    private static final int BS = 4096;
    private static final int WRITERS = 4;
    private static final int BLOCKS_PER_WRITER = 32;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void snapshotsDuringConcurrentWritesSeeWholeWritesOnly() throws Exception {
        String test = "PoolConcurrencyTest#snapshotsDuringConcurrentWritesSeeWholeWritesOnly";
        long seed = Seeds.forTest(test);
        MemoryDevice disk = MemoryDevice.create("disk", 64L << 20);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        int blocks = WRITERS * BLOCKS_PER_WRITER;
        pool.createVolume("v", (long) blocks * BS);
        pool.createVolume("other", (long) blocks * BS);
        // completed[b] = tag of the last write to block b that has returned
        AtomicLongArray completed = new AtomicLongArray(blocks);
        int writesPerWriter = Seeds.scaled(400);
        ExecutorService pool4 = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<?>> futures = new ArrayList<>();
        for (int w = 0; w < WRITERS; w++) {
            int writer = w;
            futures.add(pool4.submit(() -> {
                Random rnd = new Random(seed + writer);
                try (Device v = pool.openVolume("v"); Device o = pool.openVolume("other")) {
                    ByteBuffer buf = ByteBuffer.allocate(2 * BS);
                    for (int seq = 1; seq <= writesPerWriter; seq++) {
                        int first = writer * BLOCKS_PER_WRITER + rnd.nextInt(BLOCKS_PER_WRITER - 1);
                        long tag = ((long) writer << 32) | seq;
                        buf.clear();
                        while (buf.hasRemaining()) {
                            buf.putLong(tag);
                        }
                        v.write(buf.flip(), (long) first * BS);
                        completed.set(first, tag);
                        completed.set(first + 1, tag);
                        o.write(buf.flip(), (long) first * BS); // parallel I/O on another volume
                    }
                }
                return null;
            }));
        }
        List<long[]> floors = new ArrayList<>();
        int snapshots = 0;
        while (!futures.stream().allMatch(Future::isDone) || snapshots < 3) {
            long[] floor = new long[blocks];
            for (int b = 0; b < blocks; b++) {
                floor[b] = completed.get(b);
            }
            pool.snapshot("v", "s" + snapshots);
            floors.add(floor);
            snapshots++;
            if (snapshots % 3 == 0) {
                pool.sync();
            }
            Thread.sleep(1);
        }
        for (Future<?> f : futures) {
            f.get();
        }
        pool4.shutdown();
        for (int s = 0; s < snapshots; s++) {
            checkSnapshot(pool, "s" + s, floors.get(s), blocks);
        }
        assertThat(pool.check().problems()).isEmpty();
        pool.sync();
        Pool again = Pool.open(disk);
        for (int s = 0; s < snapshots; s++) {
            checkSnapshot(again, "s" + s, floors.get(s), blocks);
        }
        assertThat(again.check().problems()).isEmpty();
    }

    private static void checkSnapshot(Pool pool, String name, long[] floor, int blocks) throws Exception {
        try (Device d = pool.openVolume(name)) {
            ByteBuffer all = ByteBuffer.allocate(blocks * BS);
            d.read(all, 0);
            for (int b = 0; b < blocks; b++) {
                long tag = all.getLong(b * BS);
                for (int i = 0; i < BS; i += 8) {
                    assertThat(all.getLong(b * BS + i)).as(name + " block " + b + " is one write's bytes")
                            .isEqualTo(tag);
                }
                if (floor[b] != 0) {
                    assertThat(tag >>> 32).as(name + " block " + b + " writer").isEqualTo(floor[b] >>> 32);
                    assertThat(tag & 0xFFFFFFFFL).as(name + " block " + b + " holds a write at least as new as"
                            + " the last completed before the snapshot").isGreaterThanOrEqualTo(floor[b] & 0xFFFFFFFFL);
                }
            }
        }
    }
}

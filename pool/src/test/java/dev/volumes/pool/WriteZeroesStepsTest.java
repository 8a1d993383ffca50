package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Discard and write-zeroes publish a large range in bounded steps ({@link Zeroer#STEP} entries),
 * releasing the pool-wide metadata lock between steps: other volumes read, write and commit
 * while the call is in progress, the volume itself (and a snapshot of it) never sees a half-applied
 * call, and the reservation made once for the whole range covers what commits between steps
 * make the later steps shadow again. Coordination is by a hook between steps, never by time.
 */
class WriteZeroesStepsTest {

    private static final int BS = 4096;

    private static Extent x(long fromBlock, long toBlock, Extent.Type type) {
        return new Extent(fromBlock * BS, (toBlock - fromBlock) * BS, type);
    }

    @Test
    @Timeout(300) // a hang guard only: with the metadata lock held across steps this test deadlocks
    void otherVolumesReadWriteAndCommitWhileALargeWriteZeroesIsBetweenSteps() throws Exception {
        // at the default step (8192 blocks, 32 MiB) a 100 MiB + 1 byte range is 4 steps
        long blocks = 25_601; // full blocks 0..25599, a partial tail block 25600 (its first byte)
        MemoryDevice disk = MemoryDevice.create("disk", 160L << 20);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).build());
        pool.createVolume("v", blocks * BS);
        pool.createVolume("w", 64 * BS);
        Device v = pool.openVolume("v");
        Device w = pool.openVolume("w");
        write(v, 0, fill(16 * BS, 1));
        write(v, 10_000L * BS, fill(16 * BS, 2));
        write(v, 25_600L * BS, fill(BS, 3));
        write(w, 0, fill(8 * BS, 9));
        pool.snapshot("v", "v@before");
        write(v, 4 * BS, fill(4 * BS, 4)); // v owns blocks 4..7 alone again
        pool.sync();
        pool.sync(); // no free waits for a drain of v: a commit between steps must not need v's lock
        Engine e = pool.engine();
        Volume vol = e.volumes.get("v");
        Zeroer zeroer = pool.data().zeroer();
        assertThat(zeroer.step).isEqualTo(Zeroer.STEP);
        long length = 100L * (1 << 20) + 1;

        ExecutorService others = Executors.newFixedThreadPool(2);
        List<String> seen = new ArrayList<>(); // written by the zeroing thread only
        List<Throwable> failures = new ArrayList<>();
        CompletableFuture<PoolInfo> snapshot = new CompletableFuture<>();
        zeroer.stepHook = (volume, nextLb) -> {
            try {
                seen.add("step boundary at " + nextLb);
                assertThat(e.meta.isWriteLockedByCurrentThread()).isFalse();
                assertThat(e.meta.getReadHoldCount()).isZero();
                if (seen.size() != 1) {
                    return;
                }
                // on this thread (it holds v's exclusive lock) the call is visibly half-applied
                assertThat(v.extents(0, 10_016L * BS)).containsExactly(x(0, Zeroer.STEP, Extent.Type.ZERO),
                        x(Zeroer.STEP, 10_000, Extent.Type.HOLE), x(10_000, 10_016, Extent.Type.DATA));
                long generation = pool.info().generation();
                // another thread reads, writes and commits another volume, and this one waits for it:
                // with the metadata lock held this would never complete
                Future<byte[]> other = others.submit(() -> {
                    byte[] before = read(w, 0, 8 * BS);
                    write(w, 8 * BS, fill(8 * BS, 10));
                    pool.sync();
                    return before;
                });
                assertThat(other.get()).containsOnly(9);
                assertThat(pool.info().generation()).as("a commit ran between two steps").isGreaterThan(generation);
                // a snapshot of v started now waits for the whole call (it takes v's exclusive lock)
                Thread t = Thread.ofPlatform().start(() -> {
                    try {
                        pool.snapshot("v", "v@during");
                        snapshot.complete(pool.info());
                    } catch (Throwable failure) {
                        snapshot.completeExceptionally(failure);
                    }
                });
                while (!vol.rw.hasQueuedThread(t)) {
                    assertThat(snapshot).isNotDone();
                    Thread.onSpinWait();
                }
            } catch (Throwable failure) {
                failures.add(failure);
            }
        };
        try {
            v.writeZeroes(0, length, false);
        } finally {
            zeroer.stepHook = null;
            others.shutdown();
        }
        assertThat(failures).isEmpty();
        assertThat(seen).containsExactly("step boundary at 8192", "step boundary at 16384",
                "step boundary at 24576");
        snapshot.get();

        // the partial tail block holds data shared with v@before: zeros written into a copy
        List<Extent> zeroed = List.of(x(0, blocks - 1, Extent.Type.ZERO), x(blocks - 1, blocks, Extent.Type.DATA));
        assertThat(v.extents(0, v.size())).isEqualTo(zeroed);
        assertThat(pool.openVolume("v@during").extents(0, v.size())).as("the snapshot saw the whole call")
                .isEqualTo(zeroed);
        assertThat(read(v, 0, 32 * BS)).containsOnly(0);
        assertThat(read(v, 10_000L * BS, 16 * BS)).containsOnly(0);
        assertThat(read(v, 25_600L * BS, 1)).containsOnly(0);
        assertThat(read(v, 25_600L * BS + 1, BS - 1)).containsOnly(3);
        assertThat(read(pool.openVolume("v@before"), 25_600L * BS, BS)).containsOnly(3);
        assertThat(read(pool.openVolume("v@before"), 0, 16 * BS)).containsOnly(1);
        assertThat(read(w, 0, 8 * BS)).containsOnly(9);
        assertThat(read(w, 8 * BS, 8 * BS)).containsOnly(10);
        assertThat(pool.info().reservedBlocks()).as("the unused reservation was returned").isEqualTo(
                e.reserveBlocks + e.catalogBlocksFor(e.volumes.size()));
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        assertThat(reopened.openVolume("v").extents(0, blocks * BS)).isEqualTo(zeroed);
        assertThat(reopened.check().problems()).isEmpty();
    }

    /**
     * A commit between every two steps makes each step shadow again the nodes that span its
     * boundary; the reservation counts {@code depth} blocks per boundary, and the zeroer fails
     * the pool if a call ever takes more than it reserved. Small steps make many boundaries.
     */
    @Test
    void aCommitBetweenEveryStepStaysWithinTheReservationWithAndWithoutUnmap() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 16L << 20);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 1200L * BS); // two map levels (a leaf maps 504 blocks)
        Device v = pool.openVolume("v");
        write(v, 0, fill(1200 * BS, 5));
        pool.snapshot("v", "v@s"); // everything shared: without unmap every block gets a new one
        pool.sync();
        Engine e = pool.engine();
        Volume vol = e.volumes.get("v");
        assertThat(vol.depth).isEqualTo(2);
        Zeroer zeroer = pool.data().zeroer();
        zeroer.step = 37;
        List<Long> boundaries = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        zeroer.stepHook = (volume, nextLb) -> {
            boundaries.add(nextLb);
            try {
                pool.sync(); // on the zeroing thread: v's lock is reentrant, the commit needs no more
            } catch (Throwable failure) {
                failures.add(failure);
            }
        };
        long used = pool.info().usedBlocks();
        v.writeZeroes(BS, 999L * BS, false);
        assertThat(boundaries).hasSize(26); // 999 blocks in steps of 37
        assertThat(v.extents(0, 1200L * BS)).containsExactly(x(0, 1, Extent.Type.DATA),
                x(1, 1000, Extent.Type.ZERO), x(1000, 1200, Extent.Type.DATA));
        assertThat(read(v, BS, 999 * BS)).containsOnly(0);
        assertThat(read(v, 1000L * BS, 200 * BS)).containsOnly(5);
        assertThat(pool.info().usedBlocks()).as("999 new ZEROED blocks and their map nodes")
                .isGreaterThanOrEqualTo(used + 999);

        boundaries.clear();
        v.discard(0, 1200L * BS); // unmap: 201 data entries and 999 ZEROED ones
        assertThat(boundaries).hasSize(32); // 1200 mapped entries in steps of 37
        assertThat(v.extents(0, 1200L * BS)).containsExactly(x(0, 1200, Extent.Type.HOLE));
        assertThat(failures).isEmpty();
        assertThat(e.failure()).isNull();
        assertThat(read(pool.openVolume("v@s"), 0, 1200 * BS)).containsOnly(5);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        assertThat(Pool.open(disk).check().problems()).isEmpty();
    }
}

package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.read;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Soak: 1,000 cycles (scaled by {@code volumes.test.multiplier}) on a pool file. Every cycle
 * creates a volume, writes it, snapshots it, clones the snapshot (or the volume), writes the
 * clone, sometimes discards or zeroes (with and without unmap) part of a writable volume or
 * writes an older one, and then deletes volumes chosen by the seeded plan until at most
 * {@value #LIVE_MAX} are left, so live data stays bounded whatever the number of cycles.
 *
 * <p>A model tracks every volume's bytes and, per logical block, a <em>version</em>: the identity
 * of the data block behind it. A write or zeroing gives a block a new version where the pool
 * must take a new block (a hole, or a version another live volume shares) and keeps it where the
 * pool may reuse the block the volume owns alone (whether it then writes in place or copies and
 * frees the old block, the number of live blocks is the same). So the number of distinct versions
 * of the live volumes is the live data, computed without asking the pool.
 *
 * <p>Every 100 cycles and at the end, after two syncs (every free released): contents match, check
 * is clean, the data blocks check walks equal the model's live data, and the pool's used blocks
 * equal exactly the ring + the map nodes and catalog check walks + the model's live data (no leak,
 * no unbounded growth); the used blocks stay below the bound the plan implies; and the pool
 * file's allocated size ({@code stat} blocks) lies within {@link #allocationBounds}. Deleting
 * everything brings both back to the ring and one catalog block.
 */
class PoolSoakTest {

    private static final int BS = 4096;
    /** Live volumes left after each cycle's deletions. */
    private static final int LIVE_MAX = 12;
    /** Largest volume, in blocks. */
    private static final int MAX_BLOCKS = 64;

    private static final class Vol {
        final boolean readOnly;
        final byte[] content;
        final long[] version; // per logical block: 0 = hole

        Vol(boolean readOnly, byte[] content, long[] version) {
            this.readOnly = readOnly;
            this.content = content;
            this.version = version;
        }

        Vol copy(boolean readOnly) {
            return new Vol(readOnly, content.clone(), version.clone());
        }
    }

    /** The volumes, versions, and which versions are ZEROED entries or blocks never written. */
    private static final class Model {
        final Map<String, Vol> vols = new LinkedHashMap<>();
        final Set<Long> zeroed = new HashSet<>();
        final Set<Long> unwritten = new HashSet<>();
        long nextVersion = 1;

        boolean shared(Vol self, int lb, long version) {
            for (Vol o : vols.values()) {
                if (o != self && lb < o.version.length && o.version[lb] == version) {
                    return true;
                }
            }
            return false;
        }

        long fresh() {
            return nextVersion++;
        }

        void write(Vol v, int offset, byte[] data) {
            System.arraycopy(data, 0, v.content, offset, data.length);
            for (int lb = offset / BS; lb <= (offset + data.length - 1) / BS; lb++) {
                long old = v.version[lb];
                if (old == 0 || shared(v, lb, old)) {
                    v.version[lb] = fresh(); // a new block (copy-on-write, or a hole filled)
                } else {
                    zeroed.remove(old);      // written where it is (a ZEROED entry written in place)
                    unwritten.remove(old);
                }
            }
        }

        /** Discard, or write-zeroes with ({@code unmap}) or without unmap. */
        void zero(Vol v, int offset, int length, boolean unmap) {
            Arrays.fill(v.content, offset, offset + length, (byte) 0);
            int end = offset + length;
            for (int lb = offset / BS; lb <= (end - 1) / BS; lb++) {
                boolean full = offset <= lb * BS && end >= (lb + 1) * BS;
                long old = v.version[lb];
                boolean shared = old != 0 && shared(v, lb, old);
                if (unmap && full) {
                    v.version[lb] = 0;
                } else if (unmap || (!full && old != 0 && !zeroed.contains(old))) {
                    // partially covered: zeros written into data (a copy if shared); holes and
                    // ZEROED entries read zeros already and are left alone by an unmapping call
                    if (old != 0 && !zeroed.contains(old) && shared) {
                        v.version[lb] = fresh();
                    }
                } else if (old == 0 || shared) {
                    long n = fresh(); // a new block, marked ZEROED, never written
                    v.version[lb] = n;
                    zeroed.add(n);
                    unwritten.add(n);
                } else {
                    zeroed.add(old); // owned alone: kept, marked
                }
            }
        }

        Set<Long> live() {
            Set<Long> out = new HashSet<>();
            for (Vol v : vols.values()) {
                for (long x : v.version) {
                    if (x != 0) {
                        out.add(x);
                    }
                }
            }
            return out;
        }
    }

    @Test
    void thousandCyclesEndWithUsedSpaceEqualToLiveDataAndTheFileTrackingIt(@TempDir Path dir) throws IOException {
        String test = "PoolSoakTest#thousandCyclesEndWithUsedSpaceEqualToLiveDataAndTheFileTrackingIt";
        Random rnd = Seeds.random(test);
        int cycles = Seeds.scaled(1000);
        Path file = dir.resolve("soak.pool");
        Model m = new Model();
        long maxUsed = 0;
        long maxAllocated = 0;
        long deletes = 0;
        long zeroings = 0;
        int checkpoints = 0;
        try (Pool pool = Pool.create(file, 64L << 20, PoolOptions.builder().blockSize(BS).build())) {
            for (int cycle = 1; cycle <= cycles; cycle++) {
                try {
                    String base = "v" + cycle;
                    int size = (16 + rnd.nextInt(MAX_BLOCKS - 15)) * BS - (rnd.nextBoolean() ? 0 : rnd.nextInt(BS));
                    pool.createVolume(base, size);
                    m.vols.put(base, new Vol(false, new byte[size], new long[(size + BS - 1) / BS]));
                    write(pool, m, base, rnd);
                    pool.snapshot(base, base + "@s");
                    m.vols.put(base + "@s", m.vols.get(base).copy(true));
                    String source = rnd.nextBoolean() ? base + "@s" : base;
                    pool.clone(source, base + "@c");
                    m.vols.put(base + "@c", m.vols.get(source).copy(false));
                    write(pool, m, base + "@c", rnd);

                    List<String> writable = m.vols.entrySet().stream().filter(en -> !en.getValue().readOnly)
                            .map(Map.Entry::getKey).toList();
                    String some = writable.get(rnd.nextInt(writable.size()));
                    int extra = rnd.nextInt(10);
                    if (extra < 3) {
                        write(pool, m, some, rnd);
                    } else if (extra < 6) {
                        zero(pool, m, some, rnd, extra - 3);
                        zeroings++;
                    }
                    List<String> names = new ArrayList<>(m.vols.keySet());
                    while (names.size() > LIVE_MAX) {
                        String victim = names.remove(rnd.nextInt(names.size()));
                        pool.delete(victim);
                        m.vols.remove(victim);
                        deletes++;
                    }
                    if (rnd.nextInt(3) == 0) {
                        pool.sync();
                    }
                    if (cycle % 100 == 0 || cycle == cycles) {
                        long[] usedAndAllocated = verify(pool, file, m);
                        maxUsed = Math.max(maxUsed, usedAndAllocated[0]);
                        maxAllocated = Math.max(maxAllocated, usedAndAllocated[1]);
                        checkpoints++;
                    }
                } catch (AssertionError | IOException | RuntimeException e) {
                    throw new AssertionError("cycle " + cycle + ": " + e + "\n" + Seeds.reproduceWith(test), e);
                }
            }
            // the plan bounds the live data whatever the number of cycles: LIVE_MAX volumes of at
            // most MAX_BLOCKS blocks, one leaf map node each (64 < 504 entries), the catalog, the ring
            long ring = Superblock.firstDataBlock(BS);
            long usedBound = (long) LIVE_MAX * (MAX_BLOCKS + 1) + 1 + ring;
            assertThat(maxUsed).as("largest used blocks at a checkpoint").isLessThanOrEqualTo(usedBound);
            assertThat(maxAllocated).as("largest allocated bytes of the pool file at a checkpoint")
                    .isLessThanOrEqualTo(allocationBounds(usedBound, 0)[1]);
            assertThat(deletes).as("deletions").isGreaterThanOrEqualTo(2L * cycles);
            assertThat(zeroings).as("discards and write-zeroes").isPositive();

            for (String name : new ArrayList<>(m.vols.keySet())) {
                pool.delete(name);
            }
            m.vols.clear();
            verify(pool, file, m);
            PoolInfo empty = pool.info();
            assertThat(empty.usedBlocks()).as("only the ring and one catalog block").isEqualTo(ring + 1);
            long allocatedEmpty = RawImageTest.allocated(file);
            assertThat(allocatedEmpty).isLessThanOrEqualTo(allocationBounds(ring + 1, 0)[1]);
            System.out.println("soak: " + cycles + " cycles, " + deletes + " deletes, " + zeroings
                    + " discards/write-zeroes, " + checkpoints + " checkpoints; largest used " + maxUsed * BS
                    + " bytes (bound " + usedBound * BS + "), largest allocated file size " + maxAllocated
                    + " bytes; after deleting everything " + allocatedEmpty + " bytes");
        }
    }

    private static void write(Pool pool, Model m, String name, Random rnd) throws IOException {
        Vol v = m.vols.get(name);
        int length = Math.min(v.content.length, BS * (1 + rnd.nextInt(16)) - rnd.nextInt(BS));
        int offset = rnd.nextInt(v.content.length - length + 1);
        byte[] data = new byte[length];
        rnd.nextBytes(data);
        try (Device d = pool.openVolume(name)) {
            d.write(ByteBuffer.wrap(data), offset);
        }
        m.write(v, offset, data);
    }

    private static void zero(Pool pool, Model m, String name, Random rnd, int kind) throws IOException {
        Vol v = m.vols.get(name);
        int length = 1 + rnd.nextInt(v.content.length);
        int offset = rnd.nextInt(v.content.length - length + 1);
        try (Device d = pool.openVolume(name)) {
            switch (kind) {
                case 0 -> d.discard(offset, length);
                case 1 -> d.writeZeroes(offset, length, true);
                default -> d.writeZeroes(offset, length, false);
            }
        }
        m.zero(v, offset, length, kind < 2);
    }

    /**
     * The range the pool file's allocated bytes must lie in, given the used blocks and how many
     * of them are ZEROED blocks never written. Lower: every used block was written (data blocks
     * whole, map nodes and catalog by the commits, the ring at create) except those ZEROED
     * blocks, and nothing written and still used is ever punched. Upper: every block that is not
     * used was punched when its free became durable (discardFreed), so only used blocks hold
     * space, plus the file system's own blocks for the file: ext4 counts its extent tree in
     * {@code st_blocks}, one 4 KiB block per 340 extents, at most one extent per used block, plus
     * 64 KiB for allocation granularity and the tree's root levels.
     */
    private static long[] allocationBounds(long usedBlocks, long unwrittenBlocks) {
        long lower = (usedBlocks - unwrittenBlocks) * BS;
        long upper = usedBlocks * BS + 4096 * (usedBlocks / 340 + 1) + (64 << 10);
        return new long[] {lower, upper};
    }

    /** Checks everything; returns the used blocks and the file's allocated bytes. */
    private static long[] verify(Pool pool, Path file, Model m) throws IOException {
        pool.sync();
        pool.sync();
        for (Map.Entry<String, Vol> en : m.vols.entrySet()) {
            try (Device d = pool.openVolume(en.getKey())) {
                assertThat(read(d, 0, en.getValue().content.length)).as("content of " + en.getKey())
                        .isEqualTo(en.getValue().content);
            }
        }
        assertThat(pool.list()).extracting(VolumeInfo::name).containsExactlyElementsOf(m.vols.keySet());
        CheckReport report = pool.check();
        assertThat(report.problems()).isEmpty();
        Set<Long> live = m.live();
        assertThat(report.dataBlocks()).as("data blocks the check walks = the model's live data").isEqualTo(live.size());
        PoolInfo info = pool.info();
        long ring = Superblock.firstDataBlock(BS);
        assertThat(info.usedBlocks()).as("used blocks = ring + live metadata + live data")
                .isEqualTo(ring + report.metadataBlocks() + live.size());
        long unwritten = live.stream().filter(m.unwritten::contains).count();
        long allocated = RawImageTest.allocated(file);
        long[] bounds = allocationBounds(info.usedBlocks(), unwritten);
        assertThat(allocated).as("allocated bytes of the pool file; used " + info.usedBytes() + ", of which "
                + unwritten * BS + " ZEROED and never written").isBetween(bounds[0], bounds[1]);
        return new long[] {info.usedBlocks(), allocated};
    }
}

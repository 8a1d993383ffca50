package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Write-zeroes as a map operation: planned whole (atomic on a full pool), ZEROED entries without
 * unmap, exact HOLE and ZERO extents, in-place writes into ZEROED blocks that zero-fill the rest,
 * and snapshots, clones, diff, export, check and reopen over ZEROED entries.
 */
class WriteZeroesTest {

    private static final int BS = 4096;
    private static final long GIB = 1L << 30;

    private static Extent x(long fromBlock, long toBlock, Extent.Type type) {
        return new Extent(fromBlock * BS, (toBlock - fromBlock) * BS, type);
    }

    /** CRC32C of the allocation map and the allocated bytes of a sparse memory device. */
    private static long digest(Device disk) throws IOException {
        CRC32C crc = new CRC32C();
        for (Extent e : disk.extents(0, disk.size())) {
            crc.update(e.toString().getBytes());
            if (e.type() == Extent.Type.DATA) {
                ByteBuffer b = ByteBuffer.allocate((int) e.length());
                disk.read(b, e.offset());
                crc.update(b.flip());
            }
        }
        return crc.getValue();
    }

    @Test
    void aWriteZeroesSpanningMoreThanOneGibibyteThatDoesNotFitChangesNothing() throws IOException {
        // 1.25 GiB pool at the default 4 KiB blocks: a 1 GiB step of zeros would fit, 2 GiB does not
        RecordingDevice disk = RecordingDevice.memory("disk", 1280L << 20);
        Pool pool = Pool.create(disk, PoolOptions.defaults());
        pool.createVolume("v", 2 * GIB + 3 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(4 * BS, 1));
        write(v, GIB + GIB / 2, fill(2 * BS, 2));
        pool.snapshot("v", "v@s");
        write(v, 2 * BS, fill(BS, 3)); // v owns block 2 alone again
        pool.sync();
        pool.sync(); // nothing waits to be freed: a sync with no change writes nothing
        long image = digest(disk.disk());
        PoolInfo info = pool.info();
        List<Extent> extents = v.extents(0, v.size());
        long mutations = disk.mutations();

        assertThatThrownBy(() -> v.writeZeroes(BS / 2, 2 * GIB, false)).isInstanceOf(NoSpaceException.class)
                .hasMessageContaining("write-zeroes of");

        assertThat(disk.mutations()).as("device writes during the refused call").isEqualTo(mutations);
        assertThat(pool.info()).isEqualTo(info);
        assertThat(v.extents(0, v.size())).isEqualTo(extents);
        assertThat(read(v, 0, 4 * BS)).isEqualTo(concat(fill(2 * BS, 1), fill(BS, 3), fill(BS, 1)));
        assertThat(read(v, GIB + GIB / 2, 2 * BS)).containsOnly(2);
        pool.sync();
        assertThat(disk.mutations()).as("device writes of the sync after the refused call").isEqualTo(mutations);
        assertThat(digest(disk.disk())).as("backing bytes").isEqualTo(image);
        assertThat(pool.check().problems()).isEmpty();

        // a range that fits (1 GiB and a bit) is a map change only: no data written at all
        long length = GIB + 100_000;
        v.writeZeroes(0, length, false);
        assertThat(disk.mutations()).as("device writes of a write-zeroes over holes and data").isEqualTo(mutations);
        long zeroEnd = (length + BS - 1) / BS;
        assertThat(v.extents(0, v.size())).containsExactly(
                x(0, zeroEnd, Extent.Type.ZERO),
                new Extent(zeroEnd * BS, GIB + GIB / 2 - zeroEnd * BS, Extent.Type.HOLE),
                new Extent(GIB + GIB / 2, 2 * BS, Extent.Type.DATA),
                new Extent(GIB + GIB / 2 + 2 * BS, v.size() - GIB - GIB / 2 - 2 * BS, Extent.Type.HOLE));
        assertThat(read(v, 0, 4 * BS)).containsOnly(0);
        assertThat(read(v, length - 10, 20)).containsOnly(0);
        assertThat(read(pool.openVolume("v@s"), 0, 4 * BS)).containsOnly(1);
        assertThat(pool.usage("v").mappedBytes()).isEqualTo(zeroEnd * BS + 2 * BS);
        long bytes = disk.writtenBytes.get();
        pool.sync();
        assertThat(disk.writtenBytes.get() - bytes).as("the commit writes map nodes, not 1 GiB of zeros")
                .isLessThan(4L << 20);
        Pool reopened = Pool.open(disk);
        Device r = reopened.openVolume("v");
        assertThat(r.extents(0, zeroEnd * BS)).containsExactly(x(0, zeroEnd, Extent.Type.ZERO));
        assertThat(read(r, GIB - BS, 2 * BS)).containsOnly(0);
        assertThat(reopened.check().problems()).isEmpty();
    }

    private static byte[] concat(byte[]... parts) {
        ByteBuffer b = ByteBuffer.allocate(java.util.Arrays.stream(parts).mapToInt(p -> p.length).sum());
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    @Test
    void extentsAreExactAfterDiscardAndWriteZeroesWithAndWithoutUnmap() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 32 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(17 * BS, 7));
        pool.snapshot("v", "v@s");
        write(v, 15 * BS, fill(2 * BS, 8)); // 15 and 16 are v's own blocks again
        Engine e = pool.engine();
        Volume vol = e.volumes.get("v");
        long own15 = e.lookup(vol, 15);

        v.discard(BS + 100, 3 * BS);               // partial 1, holes 2..3, partial 4
        v.writeZeroes(8 * BS, 4 * BS, true);        // holes 8..11
        v.writeZeroes(12 * BS, 2 * BS, false);      // shared blocks: new ZEROED blocks 12..13
        v.writeZeroes(15 * BS, BS, false);          // v's own block: kept, marked ZEROED
        v.writeZeroes(16 * BS + 10, 100, false);    // partial, data: zeros written, stays DATA
        v.writeZeroes(20 * BS + 10, 3 * BS, false); // holes, partial head and tail included: ZERO 20..23
        v.writeZeroes(25 * BS, 2 * BS, true);       // holes stay holes
        v.writeZeroes(26 * BS, BS, false);          // and a hole becomes a ZEROED block

        List<Extent> want = List.of(
                x(0, 2, Extent.Type.DATA),
                x(2, 4, Extent.Type.HOLE),
                x(4, 8, Extent.Type.DATA),
                x(8, 12, Extent.Type.HOLE),
                x(12, 14, Extent.Type.ZERO),
                x(14, 15, Extent.Type.DATA),
                x(15, 16, Extent.Type.ZERO),
                x(16, 17, Extent.Type.DATA),
                x(17, 20, Extent.Type.HOLE),
                x(20, 24, Extent.Type.ZERO),
                x(24, 26, Extent.Type.HOLE),
                x(26, 27, Extent.Type.ZERO),
                x(27, 32, Extent.Type.HOLE));
        assertThat(v.extents(0, 32 * BS)).containsExactlyElementsOf(want);
        assertThat(v.extents(12 * BS + 5, 3 * BS)).containsExactly(
                new Extent(12 * BS + 5, 2 * BS - 5, Extent.Type.ZERO),
                x(14, 15, Extent.Type.DATA),
                new Extent(15 * BS, 5, Extent.Type.ZERO));
        assertThat(e.lookup(vol, 15)).as("an owned block is kept").isEqualTo(own15 | MetaBlock.ENTRY_ZEROED);
        byte[] expect = fill(32 * BS, 0);
        java.util.Arrays.fill(expect, 0, BS + 100, (byte) 7);
        java.util.Arrays.fill(expect, 4 * BS + 100, 8 * BS, (byte) 7);
        java.util.Arrays.fill(expect, 14 * BS, 15 * BS, (byte) 7);
        java.util.Arrays.fill(expect, 16 * BS, 17 * BS, (byte) 8);
        java.util.Arrays.fill(expect, 16 * BS + 10, 16 * BS + 110, (byte) 0);
        assertThat(read(v, 0, 32 * BS)).isEqualTo(expect);
        assertThat(read(pool.openVolume("v@s"), 0, 17 * BS)).containsOnly(7);
        assertThat(pool.usage("v").mappedBytes()).as("DATA and ZERO blocks are allocated").isEqualTo(16L * BS);

        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        Device r = reopened.openVolume("v");
        assertThat(r.extents(0, 32 * BS)).containsExactlyElementsOf(want);
        assertThat(read(r, 0, 32 * BS)).isEqualTo(expect);
        assertThat(reopened.check().problems()).isEmpty();
    }

    @Test
    void aWriteIntoAZeroedBlockLandsInPlaceAndZeroFillsTheRestWithoutReadingIt() throws IOException {
        RecordingDevice disk = RecordingDevice.memory("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 16 * BS);
        Device v = pool.openVolume("v");
        write(v, 2 * BS, fill(BS, 7));
        pool.sync();
        Engine e = pool.engine();
        Volume vol = e.volumes.get("v");
        long block = e.lookup(vol, 2);
        v.writeZeroes(2 * BS, BS, false);
        assertThat(read(disk, block * BS, BS)).as("the block keeps its old bytes: only the map changed")
                .containsOnly(7);
        long reads = disk.reads.get();
        assertThat(read(v, 2 * BS, BS)).containsOnly(0);
        assertThat(disk.reads.get()).as("reads of a ZEROED block do not read the device").isEqualTo(reads);

        pool.sync();
        pool.sync();
        long used = pool.info().usedBlocks();
        write(v, 2 * BS + 10, fill(100, 9));
        assertThat(e.lookup(vol, 2)).as("same block, ZEROED bit cleared").isEqualTo(block);
        byte[] want = fill(BS, 0);
        java.util.Arrays.fill(want, 10, 110, (byte) 9);
        assertThat(read(v, 2 * BS, BS)).isEqualTo(want);
        assertThat(read(disk, block * BS, BS)).as("the rest of the block was zero-filled on the device")
                .isEqualTo(want);
        pool.sync();
        pool.sync();
        assertThat(pool.info().usedBlocks()).as("no new data block (the leaf was shadowed, the old one freed)")
                .isEqualTo(used);
        assertThat(read(Pool.open(disk).openVolume("v"), 2 * BS, BS)).isEqualTo(want);
        assertThat(pool.check().problems()).isEmpty();
    }

    /** Holds back all but {@code leave} available blocks (as a reservation); returns how many. */
    private static long leaveAvailable(Engine e, long leave) {
        e.meta.writeLock().lock();
        try {
            long n = e.available() - leave;
            e.space.reserve(n);
            return n;
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    private static void giveBack(Engine e, long n) {
        e.meta.writeLock().lock();
        try {
            e.space.unreserve(n);
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    private static int placement(Engine e, Volume v, long lb) {
        e.meta.readLock().lock();
        try {
            return e.placement(v, lb);
        } finally {
            e.meta.readLock().unlock();
        }
    }

    /**
     * The exact guarantee for a write after write-zeroes without unmap: a block the call
     * allocated takes the write in place at once; a block it kept (owned alone) but that is
     * pinned (here: a snapshot sharing it was just deleted) still needs a new data block until
     * two commits have passed, so on a full pool that write fails with NoSpaceException.
     */
    @Test
    void aKeptButPinnedZeroedBlockNeedsANewBlockForTheNextWriteUntilTwoCommitsPass() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 16 * BS); // one map level: the leaf is the root
        Device v = pool.openVolume("v");
        write(v, 0, fill(4 * BS, 7));
        pool.sync();
        pool.sync();
        Engine e = pool.engine();
        Volume vol = e.volumes.get("v");
        long kept = e.lookup(vol, 0);
        pool.snapshot("v", "v@s");
        pool.delete("v@s"); // the leaf is v's alone again, but pinned until two commits pass
        v.writeZeroes(0, 6 * BS, false); // 0..3 kept and marked, 4..5 holes get new blocks
        assertThat(e.lookup(vol, 0)).as("kept").isEqualTo(kept | MetaBlock.ENTRY_ZEROED);
        assertThat(placement(e, vol, 0)).as("kept, pinned (shadowing the pinned leaf pinned it)")
                .isEqualTo(Engine.FRESH);
        assertThat(placement(e, vol, 4)).as("allocated by the call").isEqualTo(Engine.IN_PLACE_ZEROED);

        long held = leaveAvailable(e, vol.depth); // room for map nodes only, no data block
        assertThatThrownBy(() -> write(v, 100, fill(10, 1))).isInstanceOf(NoSpaceException.class);
        long fresh = e.lookup(vol, 4) & MetaBlock.ENTRY_BLOCK;
        write(v, 4 * BS + 100, fill(10, 2));
        assertThat(e.lookup(vol, 4)).as("in place, bit cleared").isEqualTo(fresh);
        giveBack(e, held);

        pool.sync();
        pool.sync(); // the pins are gone
        assertThat(placement(e, vol, 0)).isEqualTo(Engine.IN_PLACE_ZEROED);
        held = leaveAvailable(e, vol.depth);
        write(v, 100, fill(10, 1));
        assertThat(e.lookup(vol, 0)).as("in place, bit cleared").isEqualTo(kept);
        giveBack(e, held);
        byte[] want = fill(BS, 0);
        java.util.Arrays.fill(want, 100, 110, (byte) 1);
        assertThat(read(v, 0, BS)).isEqualTo(want);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void zeroedBlocksTakenFromFreedSpaceNeverShowItsOldBytes() throws IOException {
        // small enough that the allocator's rolling cursor must come back to the freed blocks
        MemoryDevice disk = MemoryDevice.create("disk", 140 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).discardFreed(false)
                .build());
        pool.createVolume("old", 100 * BS);
        try (Device old = pool.openVolume("old")) {
            write(old, 0, fill(100 * BS, 0x5a));
        }
        pool.sync();
        pool.delete("old");
        pool.sync();
        pool.sync(); // the 100 blocks are free and still hold 0x5a (freed blocks are not discarded)
        pool.createVolume("v", 100 * BS);
        Device v = pool.openVolume("v");
        v.writeZeroes(0, 100 * BS, false);
        Engine e = pool.engine();
        long stale = 0;
        for (int lb = 0; lb < 100; lb++) {
            long block = e.lookup(e.volumes.get("v"), lb) & MetaBlock.ENTRY_BLOCK;
            stale += read(disk, block * BS, 1)[0] == 0x5a ? 1 : 0;
        }
        assertThat(stale).as("ZEROED blocks whose device bytes are another volume's old data").isPositive();
        assertThat(read(v, 0, 100 * BS)).containsOnly(0);
        write(v, 50 * BS + 1000, fill(10, 1));
        byte[] want = fill(BS, 0);
        java.util.Arrays.fill(want, 1000, 1010, (byte) 1);
        assertThat(read(v, 50 * BS, BS)).isEqualTo(want);
        write(v, 60 * BS, fill(2 * BS + 1, 2)); // a multi-block write ending inside a ZEROED block
        assertThat(read(v, 62 * BS, BS)).isEqualTo(concat(fill(1, 2), fill(BS - 1, 0)));
        pool.sync();
        assertThat(read(Pool.open(disk).openVolume("v"), 0, 50 * BS)).containsOnly(0);
    }

    @Test
    void snapshotsClonesDiffExportAndCheckUnderstandZeroedEntries(@TempDir Path dir) throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 64 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(32 * BS, 3));
        pool.snapshot("v", "v@0");
        v.writeZeroes(8 * BS, 8 * BS, false);
        pool.snapshot("v", "v@1");
        pool.clone("v@1", "c");
        Device c = pool.openVolume("c");
        assertThat(c.extents(8 * BS, 8 * BS)).containsExactly(x(8, 16, Extent.Type.ZERO));
        write(c, 9 * BS + 7, fill(5, 4)); // a shared ZEROED block: copy-on-write, zero-filled
        byte[] want = fill(BS, 0);
        java.util.Arrays.fill(want, 7, 12, (byte) 4);
        assertThat(read(c, 9 * BS, BS)).isEqualTo(want);
        assertThat(read(v, 8 * BS, 8 * BS)).containsOnly(0);
        assertThat(read(pool.openVolume("v@1"), 8 * BS, 8 * BS)).containsOnly(0);
        assertThat(read(pool.openVolume("v@0"), 0, 32 * BS)).containsOnly(3);
        assertThat(pool.diff("v@0", "v@1")).containsExactly(new ChangedRange(8L * BS, 8L * BS));
        assertThat(pool.diff("v@1", "c")).containsExactly(new ChangedRange(9L * BS, BS));

        Path raw = dir.resolve("v1.raw");
        pool.exportRaw("v@1", raw, (done, total) -> { });
        byte[] image = Files.readAllBytes(raw);
        assertThat(image).isEqualTo(read(pool.openVolume("v@1"), 0, 64 * BS));
        try (var src = dev.volumes.device.FileDevice.openReadOnly(raw)) {
            assertThat(src.extents(8 * BS, 8 * BS)).as("ZERO runs are not written to the raw file")
                    .allSatisfy(ext -> assertThat(ext.type().readsAsZeros()).isTrue());
        }
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        assertThat(reopened.openVolume("v@1").extents(8 * BS, 8 * BS)).containsExactly(x(8, 16, Extent.Type.ZERO));
        assertThat(read(reopened.openVolume("c"), 9 * BS, BS)).isEqualTo(want);
        assertThat(reopened.check().problems()).isEmpty();

        // repair rewrites a damaged node holding ZEROED entries from memory, bits included
        long node = reopened.engine().volumes.get("v@1").root; // depth 1: the leaf, shared with v
        ByteBuffer one = ByteBuffer.allocate(1);
        disk.read(one, node * BS + 2000);
        disk.write(ByteBuffer.wrap(new byte[] {(byte) (one.get(0) ^ 0x10)}), node * BS + 2000);
        assertThat(reopened.check().findings(CheckReport.Kind.BAD_CHECKSUM)).singleElement()
                .satisfies(f -> assertThat(f.block()).isEqualTo(node));
        assertThat(reopened.repair().after().problems()).isEmpty();
        Pool repaired = Pool.open(disk);
        assertThat(repaired.openVolume("v@1").extents(0, 64 * BS)).containsExactly(x(0, 8, Extent.Type.DATA),
                x(8, 16, Extent.Type.ZERO), x(16, 32, Extent.Type.DATA), x(32, 64, Extent.Type.HOLE));
        assertThat(read(repaired.openVolume("v"), 0, 64 * BS)).isEqualTo(image);
    }
}

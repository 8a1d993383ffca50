package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.pool.CheckReport.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * Corruption on the device (bit flips in map nodes, catalog blocks, superblock slots and data
 * blocks) and in memory (wrong counts, leaks, dangling pointers): what {@link Pool#check()}
 * reports and what {@link Pool#repair()} fixes or refuses.
 */
class PoolRepairTest {

    private static final int BS = 4096;

    private static void flip(MemoryDevice disk, long byteOffset, int bit) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1);
        disk.read(b, byteOffset);
        b.put(0, (byte) (b.get(0) ^ (1 << bit))).clear();
        disk.write(b, byteOffset);
    }

    /** A pool with a volume of 600 blocks (two map levels), a snapshot and a clone, committed. */
    private static Pool populated(MemoryDevice disk) throws IOException {
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 600L * BS);
        try (Device v = pool.openVolume("v")) {
            write(v, 0, fill(8 * BS, 1));
            write(v, 550L * BS, fill(2 * BS, 2));
        }
        pool.snapshot("v", "v@1");
        pool.clone("v@1", "c");
        try (Device v = pool.openVolume("v")) {
            write(v, 4 * BS, fill(BS, 3));
        }
        for (int i = 0; i < 4; i++) {
            pool.resize("c", (601L + i) * BS); // a catalog change: one commit each
            pool.sync();
        }
        return pool;
    }

    @Test
    void aFlippedBitInACommittedMapNodeIsReportedAndRewrittenFromTheVerifiedCopy() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        long gen = pool.info().generation();
        long node = pool.engine().volumes.get("c").root; // shared by the snapshot and the clone
        flip(disk, node * BS + 1000, 6);

        CheckReport report = pool.check();
        assertThat(report.findings()).singleElement().satisfies(f -> {
            assertThat(f.kind()).isEqualTo(Kind.BAD_CHECKSUM);
            assertThat(f.block()).isEqualTo(node);
            assertThat(f.message()).contains("checksum");
        });
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).anySatisfy(l -> assertThat(l).contains("map node " + node));
        assertThat(repair.refused()).isEmpty();
        assertThat(repair.after().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        assertThat(reopened.info().generation()).as("opens the repaired commit, no fallback").isGreaterThan(gen);
        assertThat(read(reopened.openVolume("c"), 0, 8 * BS)).containsOnly(1);
        assertThat(read(reopened.openVolume("v@1"), 550L * BS, 2 * BS)).containsOnly(2);
        assertThat(reopened.check().problems()).isEmpty();
    }

    @Test
    void aFlippedBitInTheCatalogIsReportedAndTheCatalogRewritten() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        long catalog = pool.engine().catalog.getFirst();
        flip(disk, catalog * BS + 64 + 60, 1); // inside the first record's name
        assertThat(pool.check().findings(Kind.BAD_CHECKSUM)).singleElement()
                .satisfies(f -> assertThat(f.block()).isEqualTo(catalog));
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).anySatisfy(l -> assertThat(l).contains("catalog block " + catalog));
        assertThat(repair.after().problems()).isEmpty();
        assertThat(Pool.open(disk).list()).extracting(VolumeInfo::name).containsExactly("v", "v@1", "c");
    }

    @Test
    void aDamagedOlderSuperblockSlotIsReportedWithTheGenerationsAndOverwrittenByRepair() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        long gen = pool.info().generation();
        flip(disk, (long) Superblock.slotOf(gen - 2) * Superblock.SLOT_SIZE + 100, 0);
        CheckReport report = pool.check();
        assertThat(report.findings(Kind.SUPERBLOCK)).singleElement()
                .satisfies(f -> assertThat(f.message()).contains("checksum"));
        assertThat(report.superblockGenerations()).containsExactly(gen, gen - 1, gen - 3);
        RepairReport repair = pool.repair();
        assertThat(repair.after().problems()).isEmpty();
        assertThat(repair.after().superblockGenerations()).hasSize(4).first().isEqualTo(repair.after().generation());
    }

    @Test
    void aFlippedBitInADataBlockIsNotDetectedBecauseFormatOneHasNoDataChecksums() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        long data = pool.engine().lookup(pool.engine().volumes.get("v"), 0) & MetaBlock.ENTRY_BLOCK;
        flip(disk, data * BS + 5, 0);
        assertThat(pool.check().problems()).as("documented limit: data blocks carry no checksum").isEmpty();
        assertThat(read(pool.openVolume("v"), 5, 1)[0]).isEqualTo((byte) 0); // was 1: bit 0 flipped
        // a flip in a free block is harmless too
        long free = pool.engine().space.total() - 1;
        assertThat(pool.engine().space.usedBit(free)).isFalse();
        flip(disk, free * BS, 3);
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void wrongCountsAndLeaksInMemoryAreReportedAndRepaired() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        pool.sync();
        pool.sync(); // nothing waits to be freed
        long freeBefore = pool.info().freeBlocks();
        Engine e = pool.engine();
        long data = e.lookup(e.volumes.get("v"), 1) & MetaBlock.ENTRY_BLOCK;
        long leaked;
        e.meta.writeLock().lock();
        try {
            e.space.incRef(data);
            leaked = e.space.allocate();
        } finally {
            e.meta.writeLock().unlock();
        }
        CheckReport report = pool.check();
        assertThat(report.findings(Kind.WRONG_REFCOUNT)).anySatisfy(f -> assertThat(f.block()).isEqualTo(data));
        assertThat(report.findings(Kind.LEAKED)).anySatisfy(f -> assertThat(f.block()).isEqualTo(leaked));
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).anySatisfy(l -> assertThat(l).contains("block " + data))
                .anySatisfy(l -> assertThat(l).contains("leaked block " + leaked));
        assertThat(repair.refused()).isEmpty();
        assertThat(repair.after().problems()).isEmpty();
        pool.sync();
        pool.sync();
        assertThat(pool.info().freeBlocks()).isEqualTo(freeBefore);
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void aDanglingPointerInMemoryIsReportedAndRepairRefusesIt() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        Engine e = pool.engine();
        long nowhere = e.space.total() - 2;
        e.meta.writeLock().lock();
        try {
            e.volumes.get("c").root = nowhere;
        } finally {
            e.meta.writeLock().unlock();
        }
        CheckReport report = pool.check();
        assertThat(report.findings(Kind.DANGLING_POINTER)).singleElement()
                .satisfies(f -> assertThat(f.block()).isEqualTo(nowhere));
        RepairReport repair = pool.repair();
        assertThat(repair.refused()).anySatisfy(l -> assertThat(l).contains("dangling").contains("reopen"));
        assertThat(repair.after().clean()).isFalse();
    }

    // ------------------------------------------------------------ each finding kind, structured

    /** The whole device, to prove that a refusing repair writes nothing. */
    private static byte[] image(MemoryDevice disk) throws IOException {
        return read(disk, 0, (int) disk.size());
    }

    /** v's first leaf (logical blocks 0..503), exclusive to v since the write after the snapshot. */
    private static long firstLeaf(Engine e) {
        return e.nodes.get(e.volumes.get("v").root).entries[0];
    }

    private static void assertStoppedUntilReopened(Pool pool, MemoryDevice disk, byte[] before) throws IOException {
        assertThatThrownBy(pool::sync).isInstanceOf(IOException.class).hasMessageContaining("reopen");
        assertThatThrownBy(() -> write(pool.openVolume("v"), 100L * BS, fill(BS, 9)))
                .isInstanceOf(IOException.class).hasMessageContaining("reopen");
        assertThat(image(disk)).as("nothing reached the device").isEqualTo(before);
        Pool reopened = Pool.open(disk);
        assertThat(read(reopened.openVolume("v"), 0, 4 * BS)).containsOnly(1);
        assertThat(read(reopened.openVolume("v"), 4 * BS, BS)).containsOnly(3);
        assertThat(reopened.check().problems()).isEmpty();
    }

    @Test
    void anOutOfRangePointerIsReportedWithTheEntryAndTheRangeAndRepairStopsThePool() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        Engine e = pool.engine();
        long leaf = firstLeaf(e);
        long outside = e.space.total() + 5;
        e.meta.writeLock().lock();
        try {
            e.nodes.get(leaf).entries[2] = outside; // an in-memory bug; the device is fine
        } finally {
            e.meta.writeLock().unlock();
        }
        byte[] before = image(disk);
        CheckReport report = pool.check();
        assertThat(report.findings(Kind.OUT_OF_RANGE)).singleElement().satisfies(f -> {
            assertThat(f.block()).isEqualTo(leaf);
            assertThat(f.expected()).isEqualTo("entry 2 in the data area 4..511");
            assertThat(f.actual()).isEqualTo("entry 2 = block " + outside);
            assertThat(f.message()).contains("node " + leaf + " entry 2 points at block " + outside);
        });
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).isEmpty();
        assertThat(repair.refused()).anySatisfy(l -> assertThat(l).contains("node " + leaf + " entry 2")
                        .contains("close and reopen"))
                .anySatisfy(l -> assertThat(l).contains("nothing was changed or committed"));
        assertThat(repair.after().findings(Kind.OUT_OF_RANGE)).hasSize(1);
        assertStoppedUntilReopened(pool, disk, before);
    }

    @Test
    void aDataPointerAtAMapNodeIsADoubleReferenceAndRepairStopsThePool() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        Engine e = pool.engine();
        long leaf = firstLeaf(e);
        long node = e.volumes.get("c").root; // a level-1 map node
        e.meta.writeLock().lock();
        try {
            e.nodes.get(leaf).entries[6] = node;
        } finally {
            e.meta.writeLock().unlock();
        }
        byte[] before = image(disk);
        // reported where the data pointer is found, and again where the snapshot and the clone reach
        // the node (the walk has seen the block as data by then)
        assertThat(pool.check().findings(Kind.DOUBLE_REFERENCE)).hasSize(3)
                .allSatisfy(f -> assertThat(f.block()).isEqualTo(node))
                .anySatisfy(f -> {
                    assertThat(f.expected()).isEqualTo("a data block");
                    assertThat(f.actual()).isEqualTo("a level-1 map node");
                    assertThat(f.message()).contains("used as data by node " + leaf + " entry 6");
                })
                .anySatisfy(f -> {
                    assertThat(f.expected()).isEqualTo("level-1 map node");
                    assertThat(f.actual()).isEqualTo("also a data or catalog block");
                    assertThat(f.message()).contains("node of 'c'");
                });
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).isEmpty();
        assertThat(repair.refused()).anySatisfy(l -> assertThat(l).contains("double reference").contains("reopen"));
        assertStoppedUntilReopened(pool, disk, before);
    }

    @Test
    void aReferencedBlockMarkedFreeIsReportedAndMarkedUsedAgain() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        pool.sync();
        pool.sync();
        Engine e = pool.engine();
        long data = e.lookup(e.volumes.get("v"), 4) & MetaBlock.ENTRY_BLOCK; // v's own copy
        long freeBefore = pool.info().freeBlocks();
        e.meta.writeLock().lock();
        try {
            e.space.unallocate(data); // an allocator bug: the next allocation could take it
        } finally {
            e.meta.writeLock().unlock();
        }
        CheckReport report = pool.check();
        assertThat(report.findings(Kind.REFERENCED_FREE)).singleElement().satisfies(f -> {
            assertThat(f.block()).isEqualTo(data);
            assertThat(f.expected()).isEqualTo("used");
            assertThat(f.actual()).isEqualTo("marked free");
        });
        assertThat(report.findings(Kind.WRONG_REFCOUNT)).singleElement().satisfies(f -> {
            assertThat(f.block()).isEqualTo(data);
            assertThat(f.expected()).isEqualTo("1");
            assertThat(f.actual()).isEqualTo("0");
        });
        RepairReport repair = pool.repair();
        assertThat(repair.refused()).isEmpty();
        assertThat(repair.fixed()).contains("block " + data + ": reference count 0 set to 1");
        assertThat(repair.after().problems()).isEmpty();
        pool.sync();
        pool.sync();
        assertThat(pool.info().freeBlocks()).isEqualTo(freeBefore);
        write(pool.openVolume("c"), 100L * BS, fill(100 * BS, 7)); // allocates: must not take the block
        assertThat(read(pool.openVolume("v"), 4 * BS, BS)).containsOnly(3);
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void aReferencedBlockQueuedToBeFreedIsReportedAndRepairStopsThePool() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        Engine e = pool.engine();
        long data = e.lookup(e.volumes.get("v"), 4) & MetaBlock.ENTRY_BLOCK;
        e.meta.writeLock().lock();
        try {
            e.space.reclaim(data, e.txn); // released two commits from now, while v still maps it
        } finally {
            e.meta.writeLock().unlock();
        }
        byte[] before = image(disk);
        assertThat(pool.check().findings(Kind.REFERENCED_FREE)).singleElement().satisfies(f -> {
            assertThat(f.block()).isEqualTo(data);
            assertThat(f.expected()).isEqualTo("used");
            assertThat(f.actual()).isEqualTo("queued to be freed");
        });
        RepairReport repair = pool.repair();
        assertThat(repair.fixed()).isEmpty();
        assertThat(repair.refused()).anySatisfy(l -> assertThat(l).isEqualTo("block " + data
                + " is referenced but queued to be freed: refused, reopen the pool to rebuild the allocator from"
                + " the last commit"));
        assertStoppedUntilReopened(pool, disk, before);
    }

    @Test
    void aNodeOnTheDeviceThatVerifiesButDiffersIsStaleAndRewrittenFromMemory() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 512 * BS);
        Pool pool = populated(disk);
        Engine e = pool.engine();
        long leaf = firstLeaf(e);
        long entry5 = e.nodes.get(leaf).entries[5];
        long entry4 = e.nodes.get(leaf).entries[4];
        // what a lost write of a reused block leaves: an intact node (self, tag, generation, checksum)
        // with other entries; here logical block 5 would read block 4's bytes
        ByteBuffer node = ByteBuffer.allocate(BS).order(ByteOrder.LITTLE_ENDIAN);
        disk.read(node, leaf * BS);
        node.putLong(MetaBlock.HEADER + 5 * 8, entry4);
        MetaBlock.seal(node);
        disk.write(node.clear(), leaf * BS);

        CheckReport report = pool.check();
        assertThat(report.findings()).singleElement().satisfies(f -> {
            assertThat(f.kind()).isEqualTo(Kind.STALE_METADATA);
            assertThat(f.block()).isEqualTo(leaf);
            assertThat(f.expected()).isEqualTo("entry 5 = 0x" + Long.toHexString(entry5));
            assertThat(f.actual()).isEqualTo("entry 5 = 0x" + Long.toHexString(entry4));
        });
        RepairReport repair = pool.repair();
        assertThat(repair.refused()).isEmpty();
        assertThat(repair.fixed()).anySatisfy(l -> assertThat(l).contains("map node " + leaf).contains("rewritten"));
        assertThat(repair.after().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        assertThat(read(reopened.openVolume("v"), 5 * BS, BS)).containsOnly(1);
        assertThat(reopened.check().problems()).isEmpty();
    }
}

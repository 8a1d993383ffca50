package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Delete, discard and write-zeroes, resize, pool growth, usage and the low-space warning. */
class PoolLifecycleTest {

    private static final int BS = 4096;

    private static Pool pool(MemoryDevice disk) throws IOException {
        return Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
    }

    @Test
    void deleteFreesExclusiveBlocksAfterTwoCommitsAndKeepsClonesOfTheOrigin() throws IOException {
        Pool pool = pool(MemoryDevice.create("disk", 512 * BS));
        pool.createVolume("vm", 64 * BS);
        try (Device vm = pool.openVolume("vm")) {
            write(vm, 0, fill(10 * BS, 1));
        }
        pool.snapshot("vm", "vm@1");
        pool.clone("vm@1", "c");
        try (Device c = pool.openVolume("c")) {
            write(c, 5 * BS, fill(2 * BS, 2));
        }
        pool.sync();
        long used = pool.info().usedBlocks();
        assertThat(pool.usage("c")).isEqualTo(new VolumeUsage(64 * BS, 10L * BS, 2L * BS, 8L * BS));

        pool.delete("vm");
        pool.delete("vm@1");
        assertThat(pool.list()).extracting(VolumeInfo::name).containsExactly("c");
        VolumeInfo c = pool.list().getFirst();
        assertThat(c.origin()).contains("vm@1");
        assertThat(c.originDeleted()).isTrue();
        pool.sync();
        pool.sync();
        // only the 2 blocks vm had alone... none: vm's 10 blocks are all still reached by c except the 2 c rewrote
        assertThat(pool.usage("c")).isEqualTo(new VolumeUsage(64 * BS, 10L * BS, 10L * BS, 0));
        assertThat(pool.info().usedBlocks()).isLessThan(used);
        try (Device cd = pool.openVolume("c")) {
            assertThat(read(cd, 0, 5 * BS)).containsOnly(1);
            assertThat(read(cd, 5 * BS, 2 * BS)).containsOnly(2);
            assertThat(read(cd, 7 * BS, 3 * BS)).containsOnly(1);
        }
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(pool.backing());
        assertThat(reopened.list().getFirst().originDeleted()).isTrue();
        assertThat(reopened.check().problems()).isEmpty();
    }

    @Test
    void aFullPoolRecoversWhenASnapshotIsDeleted() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = pool(disk);
        pool.createVolume("v", 1024 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(100 * BS, 1));
        pool.snapshot("v", "v@1");
        pool.sync();
        NoSpaceException full = null;
        int block = 0;
        for (; block < 1024 && full == null; block++) {
            try {
                write(v, (long) block * BS, fill(BS, 2)); // copy-on-write away from the snapshot, then new blocks
            } catch (NoSpaceException e) {
                full = e;
            }
        }
        assertThat(full).as("the pool filled up").isNotNull();
        int failedAt = block - 1;
        assertThat(pool.info().freeBlocks()).isLessThan(3); // less than a write with its map path needs
        assertThatThrownBy(() -> write(v, (long) failedAt * BS, fill(BS, 3))).isInstanceOf(NoSpaceException.class);

        pool.delete("v@1"); // works on the full pool
        pool.sync();
        pool.sync(); // the freeing commit and the next one are durable: the blocks are reusable
        assertThat(pool.info().freeBlocks()).isGreaterThanOrEqualTo(90);
        for (int i = 0; i < 60; i++) {
            write(v, (long) (failedAt + i) * BS, fill(BS, 3));
        }
        assertThat(read(v, 0, BS)).containsOnly(2);
        assertThat(read(v, (long) failedAt * BS, 60 * BS)).containsOnly(3);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void deleteRefusesOpenDevicesAndMissingNames() throws IOException {
        Pool pool = pool(MemoryDevice.create("disk", 256 * BS));
        pool.createVolume("v", 8 * BS);
        Device open = pool.openVolume("v");
        assertThatThrownBy(() -> pool.delete("v")).isInstanceOf(DeviceInUseException.class).hasMessageContaining("'v'");
        open.close();
        open.close();
        pool.delete("v");
        assertThatThrownBy(() -> pool.delete("v")).isInstanceOf(VolumeNotFoundException.class);
        assertThatThrownBy(() -> pool.openVolume("v")).isInstanceOf(VolumeNotFoundException.class);
    }

    @Test
    void discardAndWriteZeroesUnmapFullBlocksZeroPartialOnesAndReportExactExtents() throws IOException {
        Pool pool = pool(MemoryDevice.create("disk", 512 * BS));
        pool.createVolume("v", 32 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(16 * BS, 7));
        pool.snapshot("v", "v@s");
        long mapped = pool.usage("v").mappedBytes();
        v.discard(BS + 100, 3 * BS); // partial block 1, full 2..3, partial 4
        assertThat(read(v, 0, BS + 100)).containsOnly(7);
        assertThat(read(v, BS + 100, 3 * BS)).containsOnly(0);
        assertThat(read(v, 4 * BS + 100, 12 * BS - 100)).containsOnly(7);
        assertThat(pool.usage("v").mappedBytes()).isEqualTo(mapped - 2L * BS);
        v.writeZeroes(8 * BS, 4 * BS, true);
        v.writeZeroes(12 * BS, 2 * BS, false); // keeps allocation
        assertThat(read(v, 8 * BS, 6 * BS)).containsOnly(0);
        assertThat(v.extents(0, 32 * BS)).containsExactly(
                new Extent(0, 2 * BS, Extent.Type.DATA),
                new Extent(2 * BS, 2 * BS, Extent.Type.HOLE),
                new Extent(4 * BS, 4 * BS, Extent.Type.DATA),
                new Extent(8 * BS, 4 * BS, Extent.Type.HOLE),
                new Extent(12 * BS, 2 * BS, Extent.Type.ZERO),
                new Extent(14 * BS, 2 * BS, Extent.Type.DATA),
                new Extent(16 * BS, 16 * BS, Extent.Type.HOLE));
        assertThat(read(pool.openVolume("v@s"), 0, 16 * BS)).containsOnly(7); // the snapshot is untouched
        Device snap = pool.openVolume("v@s");
        assertThatThrownBy(() -> snap.discard(0, BS)).isInstanceOf(ReadOnlyDeviceException.class);
        assertThatThrownBy(() -> snap.writeZeroes(0, BS, true)).isInstanceOf(ReadOnlyDeviceException.class);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(pool.backing());
        assertThat(read(reopened.openVolume("v"), 0, 16 * BS)).isEqualTo(read(v, 0, 16 * BS));
    }

    @Test
    void discardingEverythingAlsoFreesTheMapNodesItEmptied() throws IOException {
        Pool pool = pool(MemoryDevice.create("disk", 2048 * BS));
        pool.createVolume("v", 1200L * BS); // two map levels, three leaves
        Device v = pool.openVolume("v");
        write(v, 0, fill(1200 * BS, 4));
        pool.sync();
        v.discard(0, 600L * BS); // empties the first leaf only
        pool.sync();
        pool.sync();
        long ring = Superblock.firstDataBlock(BS);
        assertThat(pool.info().usedBlocks()).isEqualTo(ring + 1 + 1 + 2 + 600); // catalog, root, 2 leaves, data
        v.discard(0, 1200L * BS);
        pool.sync();
        pool.sync();
        assertThat(pool.info().usedBlocks()).isEqualTo(ring + 1);
        assertThat(pool.engine().volumes.get("v").root).isZero();
        write(v, 700L * BS, fill(BS, 5));
        assertThat(read(v, 700L * BS, BS)).containsOnly(5);
        assertThat(read(v, 0, 700 * BS)).containsOnly(0);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void writeZeroesWithoutUnmapFailsWholeOnAFullPoolAndUnmapStillWorks() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 128 * BS);
        Pool pool = pool(disk);
        pool.createVolume("v", 256 * BS);
        Device v = pool.openVolume("v");
        int written = 0;
        try {
            while (true) {
                write(v, (long) written * BS, fill(BS, 3));
                written++;
            }
        } catch (NoSpaceException full) {
            // the pool is full
        }
        pool.sync();
        long at = (long) written * BS - 2 * BS;
        byte[] before = read(v, 0, 256 * BS);
        byte[] image = new byte[(int) disk.size()];
        disk.read(ByteBuffer.wrap(image), 0);
        assertThatThrownBy(() -> v.writeZeroes(at, 20 * BS, false))
                .isInstanceOf(NoSpaceException.class);
        assertThat(read(v, 0, 256 * BS)).isEqualTo(before);
        byte[] after = new byte[(int) disk.size()];
        disk.read(ByteBuffer.wrap(after), 0);
        assertThat(after).isEqualTo(image);
        // unmapping works on the full pool (it may use the reserve) and gives space back
        v.writeZeroes(0, 8L * BS, true);
        pool.sync();
        pool.sync();
        write(v, at + 2 * BS, fill(4 * BS, 4));
        assertThat(pool.check().problems()).isEmpty();
    }

    @Test
    void resizeOnlineShrinkFreesTheTailAndGrowReadsZeros() throws IOException {
        Pool pool = pool(MemoryDevice.create("disk", 1024 * BS));
        pool.createVolume("v", 20 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(20 * BS, 9));
        pool.snapshot("v", "v@s");
        pool.resize("v", 5 * BS + 100);
        assertThat(v.size()).isEqualTo(5 * BS + 100);
        assertThat(pool.usage("v").mappedBytes()).isEqualTo(6L * BS);
        assertThatThrownBy(() -> v.read(ByteBuffer.allocate(200), 5 * BS)).isInstanceOf(IOException.class);
        v.resize(600L * BS); // deeper than one map level (504 entries)
        assertThat(pool.find("v").orElseThrow().size()).isEqualTo(600L * BS);
        assertThat(read(v, 0, 5 * BS + 100)).containsOnly(9);
        assertThat(read(v, 5 * BS + 100, 595 * BS - 100)).containsOnly(0);
        write(v, 599L * BS, fill(BS, 5));
        assertThat(read(pool.openVolume("v@s"), 0, 20 * BS)).containsOnly(9);
        assertThatThrownBy(() -> pool.resize("v@s", BS)).isInstanceOf(ReadOnlyDeviceException.class);
        assertThatThrownBy(() -> pool.openVolume("v@s").resize(BS)).isInstanceOf(ReadOnlyDeviceException.class);
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(pool.backing());
        Device r = reopened.openVolume("v");
        assertThat(r.size()).isEqualTo(600L * BS);
        assertThat(read(r, 0, 5 * BS + 100)).containsOnly(9);
        assertThat(read(r, 599L * BS, BS)).containsOnly(5);
        assertThat(read(r, 5 * BS + 100, 594 * BS - 100)).containsOnly(0);
        reopened.resize("v", 0);
        assertThat(reopened.usage("v").mappedBytes()).isZero();
        reopened.sync();
        assertThat(reopened.check().problems()).isEmpty();
    }

    @Test
    void poolGrowsOnlineToItsBackingsNewSize() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 128 * BS);
        Pool pool = pool(disk);
        pool.createVolume("v", 1024 * BS);
        Device v = pool.openVolume("v");
        assertThatThrownBy(() -> write(v, 0, fill(200 * BS, 1))).isInstanceOf(NoSpaceException.class);
        assertThat(pool.grow()).isEqualTo(128L * BS); // nothing changed
        assertThat(pool.grow(512L * BS)).isEqualTo(512L * BS);
        assertThat(pool.info().totalBlocks()).isEqualTo(512);
        write(v, 0, fill(200 * BS, 1));
        pool.sync();
        assertThatThrownBy(() -> pool.grow(64L * BS)).isInstanceOf(IllegalArgumentException.class);
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        assertThat(reopened.info().totalBlocks()).isEqualTo(512);
        assertThat(read(reopened.openVolume("v"), 0, 200 * BS)).containsOnly(1);
    }

    @Test
    void lowSpaceWarningFiresOnceWhenCrossingAndAgainAfterSpaceCameBack() throws IOException {
        List<PoolInfo> calls = new ArrayList<>();
        Pool pool = Pool.create(MemoryDevice.create("disk", 256 * BS), PoolOptions.builder().blockSize(BS)
                .reserve(16 * BS).lowSpaceThreshold(0.5).lowSpaceListener(calls::add).build());
        pool.createVolume("v", 256 * BS);
        Device v = pool.openVolume("v");
        for (int i = 0; i < 150; i++) {
            write(v, (long) i * BS, fill(BS, 1));
        }
        assertThat(calls).hasSize(1);
        assertThat(calls.getFirst().usedBlocks()).isGreaterThanOrEqualTo(126);
        v.discard(0, 150L * BS);
        pool.sync();
        pool.sync();
        assertThat(calls).hasSize(1);
        for (int i = 0; i < 150; i++) {
            write(v, (long) i * BS, fill(BS, 2));
        }
        assertThat(calls).hasSize(2);
    }

    @Test
    void freedBlocksAreDiscardedOnTheBackingOnceTheFreeIsDurable() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = pool(disk);
        pool.createVolume("v", 64 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(32 * BS, 5));
        pool.sync();
        long dataBlock = pool.engine().lookup(pool.engine().volumes.get("v"), 3) & MetaBlock.ENTRY_BLOCK;
        v.close();
        pool.delete("v");
        pool.sync();
        assertThat(read(disk, dataBlock * BS, BS)).containsOnly(5); // the previous commit still references it
        pool.sync();
        assertThat(read(disk, dataBlock * BS, BS)).containsOnly(0);
    }
}

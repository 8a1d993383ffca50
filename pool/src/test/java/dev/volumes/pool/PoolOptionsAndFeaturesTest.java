package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Options validation, feature words a newer format may set, freed-block discard switched off,
 * creation times in {@link Pool#list()}, and the low-space warning's log line.
 */
class PoolOptionsAndFeaturesTest {

    private static final int BS = 4096;

    // ---------------------------------------------------------------- options

    @Test
    void badBlockSizesAreRefusedNamingTheRangeAndTheValue() {
        for (int bad : new int[] {0, -4096, 512, 2048, 4095, 12288, 65537, 2 << 20, Integer.MIN_VALUE}) {
            assertThatThrownBy(() -> PoolOptions.builder().blockSize(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("pool block size must be a power of two from 4096 to 1048576 bytes: " + bad);
        }
        for (int good : new int[] {4096, 8192, 65536, 1 << 20}) {
            assertThat(PoolOptions.builder().blockSize(good).build().blockSize()).isEqualTo(good);
        }
        assertThat(PoolOptions.defaults().blockSize()).isEqualTo(PoolOptions.DEFAULT_BLOCK_SIZE).isEqualTo(4096);
    }

    @Test
    void badLabelsAreRefusedSayingWhy() {
        String ascii65 = "x".repeat(65);
        assertThatThrownBy(() -> PoolOptions.builder().label(ascii65)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pool label is 65 UTF-8 bytes, at most 64 fit: '" + ascii65 + "'");
        String threeByteChars = "\u20ac".repeat(22); // 22 characters, 66 UTF-8 bytes
        assertThatThrownBy(() -> PoolOptions.builder().label(threeByteChars))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("66 UTF-8 bytes, at most 64");
        assertThatThrownBy(() -> PoolOptions.builder().label("ab\0c")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("NUL character (at index 2)");
        assertThatThrownBy(() -> PoolOptions.builder().label(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("label");
        assertThat(PoolOptions.builder().label("\u20ac".repeat(21)).build().label()).hasSize(21);
        assertThat(PoolOptions.builder().label("x".repeat(64)).build().label()).hasSize(64);
    }

    @Test
    void badReservesAreRefusedAtTheOptionOrWhenThePoolCannotHoldThem() throws IOException {
        assertThatThrownBy(() -> PoolOptions.builder().reserve(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pool reserve must not be negative: -1 bytes");
        MemoryDevice disk = MemoryDevice.create("disk", 64 * BS);
        assertThatThrownBy(() -> Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(60L * BS).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pool on 'disk': 262144 bytes give 64 blocks of 4096 bytes; need 72 to 2147483647"
                        + " (ring 4 + reserve 60 + 8)");
        assertThat(read(disk, 0, 4 * BS)).as("a refused create writes nothing").containsOnly(0);
        try (Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(52L * BS - 1).build())) {
            assertThat(pool.info().reservedBlocks()).as("rounded up to blocks, plus the commit reserve")
                    .isEqualTo(52 + 1);
        }
        assertThatThrownBy(() -> PoolOptions.builder().lowSpaceThreshold(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("(0, 1]");
        assertThatThrownBy(() -> PoolOptions.builder().lowSpaceThreshold(Double.NaN))
                .isInstanceOf(IllegalArgumentException.class);
    }

    // ---------------------------------------------------------------- feature words

    /** A committed pool of two generations; returns its disk. */
    private static MemoryDevice committedPool() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 128 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 16 * BS);
        write(pool.openVolume("v"), 0, fill(BS, 1));
        pool.sync();
        return disk;
    }

    /** Sets a 64-bit field of the newest superblock slot and reseals its checksum, as a newer writer would. */
    private static long patchNewestSlot(MemoryDevice disk, int offset, long value) throws IOException {
        List<Superblock> slots = new Loader(disk).slots(new ArrayList<>());
        long gen = slots.getFirst().generation();
        long at = (long) Superblock.slotOf(gen) * Superblock.SLOT_SIZE;
        ByteBuffer slot = ByteBuffer.allocate(Superblock.SLOT_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        disk.read(slot, at);
        if (offset == 8) {
            slot.putInt(8, (int) value);
        } else {
            slot.putLong(offset, value);
        }
        slot.putInt(Superblock.CRC_OFFSET, Superblock.crc(slot));
        disk.write(slot.clear(), at);
        return gen;
    }

    @Test
    void anUnknownIncompatibleFeatureRefusesThePoolInsteadOfFallingBack() throws IOException {
        MemoryDevice disk = committedPool();
        long gen = patchNewestSlot(disk, 16, 1L << 5);
        assertThatThrownBy(() -> Pool.open(disk)).isInstanceOf(UnsupportedPoolFormatException.class)
                .isInstanceOf(CorruptPoolException.class)
                .hasMessageStartingWith("unsupported pool format on 'disk': superblock slot " + Superblock.slotOf(gen)
                        + " (generation field " + gen + ") needs incompatible feature bits 0x20")
                .hasMessageContaining("written by a newer version of volumes");
        // also on a read-only device: the layout itself may have changed
        assertThatThrownBy(() -> Pool.open(Devices.readOnly(disk))).isInstanceOf(UnsupportedPoolFormatException.class);
    }

    @Test
    void anUnknownFormatVersionRefusesThePool() throws IOException {
        MemoryDevice disk = committedPool();
        patchNewestSlot(disk, 8, 2);
        assertThatThrownBy(() -> Pool.open(disk)).isInstanceOf(UnsupportedPoolFormatException.class)
                .hasMessageContaining("format version 2; this build reads version 1");
    }

    @Test
    void anUnknownReadOnlyCompatibleFeatureOpensOnlyFromAReadOnlyDevice() throws IOException {
        MemoryDevice disk = committedPool();
        patchNewestSlot(disk, 24, 1L << 3);
        assertThatThrownBy(() -> Pool.open(disk)).isInstanceOf(UnsupportedPoolFormatException.class)
                .hasMessageContaining("read-only-compatible feature bits 0x8")
                .hasMessageContaining("Open it from a read-only device");
        byte[] image = read(disk, 0, (int) disk.size());
        Pool pool = Pool.open(Devices.readOnly(disk));
        assertThat(read(pool.openVolume("v"), 0, BS)).containsOnly(1);
        assertThatThrownBy(() -> pool.createVolume("w", BS)).isInstanceOf(ReadOnlyDeviceException.class);
        pool.close();
        assertThat(read(disk, 0, (int) disk.size())).as("the feature word is never rewritten").isEqualTo(image);
    }

    @Test
    void unknownCompatibleFeaturesAreIgnored() throws IOException {
        MemoryDevice disk = committedPool();
        patchNewestSlot(disk, 32, 1L << 7);
        assertThat(read(Pool.open(disk).openVolume("v"), 0, BS)).containsOnly(1);
    }

    // ---------------------------------------------------------------- freed blocks

    @Test
    void withDiscardFreedOffFreedBlocksStayAllocatedInThePoolFile(@TempDir Path dir) throws IOException {
        long[] givenBack = new long[2];
        for (int i = 0; i < 2; i++) {
            boolean discard = i == 1;
            Path file = dir.resolve("p" + i + ".pool");
            try (Pool pool = Pool.create(file, 4L << 20, PoolOptions.builder().blockSize(BS).discardFreed(discard)
                    .build())) {
                pool.createVolume("v", 256 * BS);
                try (Device v = pool.openVolume("v")) {
                    write(v, 0, fill(256 * BS, 3));
                }
                pool.sync();
                long full = RawImageTest.allocated(file);
                pool.delete("v");
                pool.sync();
                pool.sync(); // the 256 data blocks and the map node are free now
                givenBack[i] = full - RawImageTest.allocated(file);
            }
        }
        assertThat(givenBack[0]).as("bytes given back to the file system with discardFreed=false (the commits"
                + " of the delete wrote a new catalog block)").isNotPositive();
        assertThat(givenBack[1]).as("bytes given back with discardFreed=true").isGreaterThanOrEqualTo(256L * BS);
    }

    @Test
    void withDiscardFreedOffTheBackingNeverSeesADiscard() throws IOException {
        for (boolean discard : new boolean[] {false, true}) {
            RecordingDevice disk = RecordingDevice.memory("disk", 512 * BS);
            Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).discardFreed(discard)
                    .build());
            pool.createVolume("v", 64 * BS);
            write(pool.openVolume("v"), 0, fill(64 * BS, 3));
            pool.sync();
            pool.openVolume("v").discard(BS, 63L * BS);
            pool.sync();
            pool.sync();
            long afterDiscard = disk.discards.get();
            // reopened with runtime options (the stored format options win, discardFreed applies)
            Pool reopened = Pool.open(disk, PoolOptions.builder().discardFreed(discard).build());
            reopened.delete("v");
            reopened.sync();
            reopened.sync();
            if (discard) {
                assertThat(afterDiscard).as("discards of freed runs, discardFreed=true").isPositive();
                assertThat(disk.discards.get()).as("after the reopened pool freed more").isGreaterThan(afterDiscard);
            } else {
                assertThat(disk.discards.get()).as("discards with discardFreed=false").isZero();
            }
        }
    }

    // ---------------------------------------------------------------- creation times

    @Test
    void listReportsCreationTimesThatStayTheSameAcrossReopen(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("t.pool");
        Instant before = Instant.now();
        List<VolumeInfo> listed;
        try (Pool pool = Pool.create(file, 4L << 20, PoolOptions.defaults())) {
            pool.createVolume("v", BS);
            Instant afterVolume = Instant.now();
            Thread.sleep(2);
            pool.snapshot("v", "v@1");
            pool.clone("v@1", "c");
            Instant after = Instant.now();
            listed = pool.list();
            VolumeInfo v = listed.get(0);
            assertThat(v.created()).isBetween(before, afterVolume);
            assertThat(listed.get(1).created()).isAfter(v.created()).isBeforeOrEqualTo(after);
            assertThat(listed.get(2).created()).isAfterOrEqualTo(listed.get(1).created()).isBeforeOrEqualTo(after);
            write(pool.openVolume("v"), 0, fill(10, 1));
            pool.resize("c", 2 * BS);
            pool.sync();
            assertThat(pool.list()).as("writes, resizes and commits do not touch creation times")
                    .extracting(VolumeInfo::created).isEqualTo(listed.stream().map(VolumeInfo::created).toList());
        }
        try (Pool reopened = Pool.open(file)) {
            assertThat(reopened.list()).extracting(VolumeInfo::name, VolumeInfo::created).isEqualTo(
                    listed.stream().map(i -> org.assertj.core.groups.Tuple.tuple(i.name(), i.created())).toList());
        }
    }

    // ---------------------------------------------------------------- low-space log line

    /** The records about this test's pool (other tests' pools may log to the same logger). */
    private static List<LogRecord> ours(List<LogRecord> records) {
        synchronized (records) {
            return records.stream().filter(r -> new SimpleFormatter().formatMessage(r).contains("'lowdisk'")).toList();
        }
    }

    @Test
    void theLowSpaceWarningIsLoggedThroughSystemLogger() throws IOException {
        Logger jul = Logger.getLogger(Engine.class.getName()); // System.Logger's default backend
        List<LogRecord> records = new ArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                synchronized (records) {
                    records.add(record);
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        jul.addHandler(capture);
        try {
            List<PoolInfo> calls = new ArrayList<>();
            Pool pool = Pool.create(MemoryDevice.create("lowdisk", 256 * BS), PoolOptions.builder().blockSize(BS)
                    .reserve(16 * BS).lowSpaceThreshold(0.5).lowSpaceListener(calls::add).build());
            pool.createVolume("v", 256 * BS);
            Device v = pool.openVolume("v");
            write(v, 0, fill(100 * BS, 1));
            assertThat(ours(records)).as("below the threshold").isEmpty();
            write(v, 100L * BS, fill(40 * BS, 1));
            assertThat(calls).hasSize(1);
            PoolInfo at = calls.getFirst();
            assertThat(ours(records)).singleElement().satisfies(r -> {
                assertThat(r.getLevel()).isEqualTo(Level.WARNING);
                assertThat(r.getLoggerName()).isEqualTo("dev.volumes.pool.Engine");
                assertThat(new SimpleFormatter().formatMessage(r)).isEqualTo("pool 'lowdisk' is low on space: "
                        + at.usedBytes() + " of 1048576 bytes used, " + at.freeBytes() + " free (threshold 0.5)");
            });
            write(v, 140L * BS, fill(10 * BS, 1));
            assertThat(ours(records)).as("once per crossing").hasSize(1);
        } finally {
            jul.removeHandler(capture);
        }
    }
}

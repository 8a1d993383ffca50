package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bit flips in superblocks and metadata: fallback to the previous generation or a clear error. */
class PoolCorruptionTest {

    private static final int BS = 4096;

    /** Two generations: gen A has v = 1s in block 0..1; gen B (newest) adds 2s in block 5 and a snapshot. */
    private static MemoryDevice twoGenerations(long[] gens) throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 64 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(2 * BS, 1));
        pool.sync();
        gens[0] = pool.info().generation();
        pool.snapshot("v", "v@b");
        write(v, 5 * BS, fill(BS, 2));
        pool.sync();
        gens[1] = pool.info().generation();
        return disk;
    }

    private static void flip(MemoryDevice disk, long byteOffset, int bit) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1);
        disk.read(b, byteOffset);
        b.put(0, (byte) (b.get(0) ^ (1 << bit))).clear();
        disk.write(b, byteOffset);
    }

    @Test
    void corruptNewestSuperblockFallsBackToThePreviousGeneration() throws IOException {
        long[] gens = new long[2];
        MemoryDevice disk = twoGenerations(gens);
        flip(disk, (long) Superblock.slotOf(gens[1]) * Superblock.SLOT_SIZE + 60, 3); // in the generation field
        Pool pool = Pool.open(disk);
        assertThat(pool.info().generation()).isEqualTo(gens[0]);
        assertThat(pool.list()).extracting(VolumeInfo::name).containsExactly("v");
        assertThat(read(pool.openVolume("v"), 0, 2 * BS)).containsOnly(1);
        assertThat(pool.check().problems()).singleElement().asString().contains("superblock").contains("checksum");
        // the next commit is numbered above anything the damaged slot may hold (it may be the lost
        // newest commit), lands in that slot, and the pool is clean again
        write(pool.openVolume("v"), 9 * BS, fill(10, 9));
        pool.sync();
        assertThat(pool.info().generation()).isEqualTo(gens[0] + 1 + Superblock.SLOTS);
        assertThat(Superblock.slotOf(pool.info().generation())).isEqualTo(Superblock.slotOf(gens[1]));
        assertThat(pool.check().problems()).isEmpty();
        assertThat(Pool.open(disk).info().generation()).isEqualTo(gens[0] + 1 + Superblock.SLOTS);
    }

    /** Generations A, B, C, D (consecutive; the ring holds all four): v's root is rewritten by each. */
    private static MemoryDevice fourGenerations(long[] gens, long[] roots) throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 64 * BS);
        Device v = pool.openVolume("v");
        for (int i = 0; i < 4; i++) {
            write(v, (long) i * BS, fill(BS, i + 1));
            pool.sync();
            gens[i] = pool.info().generation();
            roots[i] = pool.engine().volumes.get("v").root;
        }
        assertThat(gens[3] - gens[0]).isEqualTo(3);
        assertThat(roots).doesNotHaveDuplicates();
        return disk;
    }

    @Test
    void aDamagedNewestSlotLimitsTheFallbackToTheGenerationBeforeIt() throws IOException {
        long[] gens = new long[4];
        long[] roots = new long[4];
        MemoryDevice disk = fourGenerations(gens, roots);
        flip(disk, (long) Superblock.slotOf(gens[3]) * Superblock.SLOT_SIZE + 100, 4); // D's slot: checksum
        flip(disk, roots[2] * BS + 300, 1); // C's tree does not verify; B's would
        assertThatThrownBy(() -> Pool.open(disk)).isInstanceOf(CorruptPoolException.class)
                .hasMessageContaining("generation " + gens[2] + " does not verify")
                .hasMessageContaining("slot " + Superblock.slotOf(gens[3]))
                .hasMessageContaining("does not fall back further")
                .satisfies(e -> assertThat(e.getSuppressed())
                        .anySatisfy(s -> assertThat(s.getMessage()).contains("block " + roots[2]))
                        .noneSatisfy(s -> assertThat(s.getMessage()).contains("block " + roots[1])));
    }

    @Test
    void aDamagedOlderSlotDoesNotLimitTheFallback() throws IOException {
        long[] gens = new long[4];
        long[] roots = new long[4];
        MemoryDevice disk = fourGenerations(gens, roots);
        flip(disk, (long) Superblock.slotOf(gens[1]) * Superblock.SLOT_SIZE + 100, 4); // B's slot
        flip(disk, roots[3] * BS + 300, 1); // D's tree does not verify
        Pool pool = Pool.open(disk);
        assertThat(pool.info().generation()).isEqualTo(gens[2]);
        assertThat(read(pool.openVolume("v"), 0, 4 * BS)).isEqualTo(concat(fill(BS, 1), fill(BS, 2), fill(BS, 3),
                fill(BS, 0)));
    }

    private static byte[] concat(byte[]... parts) {
        ByteBuffer b = ByteBuffer.allocate(java.util.Arrays.stream(parts).mapToInt(p -> p.length).sum());
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    @Test
    void corruptNodeOfNewestTreeFallsBackAndSharedCorruptionNamesTheBlock() throws IOException {
        long[] gens = new long[2];
        MemoryDevice disk = twoGenerations(gens);
        Pool probe = Pool.open(disk);
        Volume v = probe.engine().volumes.get("v");
        Volume snap = probe.engine().volumes.get("v@b");
        long newestOnly = v.root;   // shadowed in gen B
        long shared = snap.root;    // gen A's root, now the snapshot's
        assertThat(newestOnly).isNotEqualTo(shared);

        MemoryDevice copy = MemoryDevice.create("copy", disk.size());
        copy.write(ByteBuffer.wrap(read(disk, 0, (int) disk.size())), 0);

        flip(disk, newestOnly * BS + 200, 0);
        Pool fellBack = Pool.open(disk);
        assertThat(fellBack.info().generation()).isEqualTo(gens[0]);
        assertThat(read(fellBack.openVolume("v"), 0, 2 * BS)).containsOnly(1);

        flip(copy, shared * BS + 70, 5); // corrupts both generations' trees
        assertThatThrownBy(() -> Pool.open(copy)).isInstanceOf(CorruptPoolException.class)
                .hasMessageContaining("neither generation")
                .satisfies(e -> assertThat(e.getSuppressed()).isNotEmpty()
                        .anySatisfy(s -> assertThat(s.getMessage()).contains("block " + shared)
                                .contains("checksum")));
    }

    @Test
    void previousGenerationStaysAValidFallbackAcrossAReopen() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 64 * BS);
        write(pool.openVolume("v"), 0, fill(10 * BS, 1));
        pool.sync();
        long genA = pool.info().generation();
        write(pool.openVolume("v"), 20 * BS, fill(BS, 2)); // shadows A's root node: only A references it now
        pool.sync();
        long genB = pool.info().generation();
        Pool reopened = Pool.open(disk);
        write(reopened.openVolume("v"), 30 * BS, fill(30 * BS, 3)); // allocates, must not take A's blocks
        flip(disk, (long) Superblock.slotOf(genB) * Superblock.SLOT_SIZE + 60, 1);
        Pool fellBack = Pool.open(disk);
        assertThat(fellBack.info().generation()).isEqualTo(genA);
        assertThat(read(fellBack.openVolume("v"), 0, 10 * BS)).containsOnly(1);
        assertThat(read(fellBack.openVolume("v"), 10 * BS, 54 * BS)).containsOnly(0);
    }

    @Test
    void emptyOrForeignDeviceIsNotAPool() {
        assertThatThrownBy(() -> Pool.open(MemoryDevice.create(1 << 20))).isInstanceOf(CorruptPoolException.class)
                .hasMessageContaining("not a volumes pool");
        assertThatThrownBy(() -> Pool.open(MemoryDevice.create(100))).isInstanceOf(CorruptPoolException.class)
                .hasMessageContaining("smaller than");
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void randomBitFlipsInMetadataNeverCauseAnythingButACleanOpenOrCorruptPoolException() throws IOException {
        String test = "PoolCorruptionTest#randomBitFlipsInMetadataNeverCauseAnythingButACleanOpenOrCorruptPoolException";
        Random rnd = Seeds.random(test);
        long[] gens = new long[2];
        MemoryDevice original = twoGenerations(gens);
        Pool probe = Pool.open(original);
        List<Long> metadata = new ArrayList<>(probe.engine().nodes.blocks());
        metadata.addAll(probe.engine().catalog);
        byte[] image = read(original, 0, (int) original.size());
        int opened = 0;
        int refused = 0;
        for (int i = 0; i < Seeds.scaled(300); i++) {
            MemoryDevice disk = MemoryDevice.create("disk", image.length);
            disk.write(ByteBuffer.wrap(image), 0);
            int flips = 1 + rnd.nextInt(4);
            for (int f = 0; f < flips; f++) {
                long at = rnd.nextBoolean()
                        ? rnd.nextInt(Superblock.SLOTS) * (long) Superblock.SLOT_SIZE + rnd.nextInt(Superblock.RECORD_SIZE)
                        : metadata.get(rnd.nextInt(metadata.size())) * BS + rnd.nextInt(BS);
                flip(disk, at, rnd.nextInt(8));
            }
            try {
                Pool pool = Pool.open(disk);
                opened++;
                for (VolumeInfo info : pool.list()) {
                    read(pool.openVolume(info.name()), 0, (int) info.size());
                }
                pool.check();
            } catch (CorruptPoolException expected) {
                refused++;
                assertThat(expected.getMessage()).contains("corrupt pool on 'disk'");
            } catch (IOException | RuntimeException other) {
                throw new AssertionError("flip round " + i + ": unexpected " + other + "\n"
                        + Seeds.reproduceWith(test), other);
            }
        }
        assertThat(opened + refused).isEqualTo(Seeds.scaled(300));
        assertThat(opened).isPositive();
        assertThat(refused).isPositive();
    }
}

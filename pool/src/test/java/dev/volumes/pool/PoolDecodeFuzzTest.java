package dev.volumes.pool;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Jazzer fuzz targets for every decoder of bytes read from disk: superblock slots, metadata
 * blocks (map nodes and catalog blocks with their records) and the whole open path over a real
 * pool image patched by the input. In a normal test run Jazzer replays the committed seed corpus
 * under src/test/resources/dev/volumes/pool/PoolDecodeFuzzTestInputs/; with JAZZER_FUZZ=1 it
 * fuzzes. The property: nothing but {@link CorruptPoolException} (or, after a successful open,
 * other {@link IOException}s) ever escapes: no runtime exception, no hang, no huge allocation.
 */
class PoolDecodeFuzzTest {

    private static final int BS = 4096;
    private static final long TAG = MetaBlock.poolTag(PoolFormatTest.UUID_EXAMPLE);
    private static final byte[] IMAGE = baseImage();

    /** A small pool: two generations, a volume with data, a snapshot and a clone. */
    private static byte[] baseImage() {
        try {
            MemoryDevice disk = MemoryDevice.create("fuzz", 64 * BS);
            Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
            pool.createVolume("v", 600 * BS); // two map levels
            Device v = pool.openVolume("v");
            v.write(ByteBuffer.wrap(new byte[3 * BS]).put(0, (byte) 1), 0);
            v.write(ByteBuffer.wrap(new byte[BS]).put(5, (byte) 2), 550L * BS);
            pool.sync();
            pool.snapshot("v", "v@1");
            pool.clone("v@1", "c");
            v.write(ByteBuffer.wrap(new byte[BS]).put(7, (byte) 3), BS);
            pool.sync();
            byte[] image = new byte[64 * BS];
            disk.read(ByteBuffer.wrap(image), 0);
            return image;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void superblockSlot(byte[] input) {
        ByteBuffer slot = ByteBuffer.wrap(Arrays.copyOf(input, Superblock.SLOT_SIZE));
        int index = input.length > 68 ? Math.floorMod(input[68], Superblock.SLOTS) : 0;
        try {
            Superblock sb = Superblock.decode("fuzz", slot, index);
            Superblock again = Superblock.decode("fuzz", sb.encode(), index);
            if (!again.equals(sb)) {
                throw new AssertionError("re-encoding changed " + sb + " into " + again);
            }
        } catch (CorruptPoolException expected) {
            // rejected cleanly
        }
    }

    @FuzzTest(maxDuration = "30s")
    void metadataBlock(byte[] input) {
        ByteBuffer b = MetaBlock.allocate(BS);
        b.put(0, input, 0, Math.min(input.length, BS));
        try {
            MetaBlock.Header h = MetaBlock.verify("fuzz", b, 7, MetaBlock.TYPE_MAP, -1, TAG, 100);
            h.level();
        } catch (CorruptPoolException expected) {
            // rejected cleanly
        }
        try {
            MetaBlock.Header h = MetaBlock.verify("fuzz", b, 9, MetaBlock.TYPE_CATALOG, 0, TAG, 100);
            int per = (BS - MetaBlock.HEADER) / CatalogEntry.SIZE;
            for (int k = 0; k < Math.min(Math.max(h.count(), 0), per); k++) {
                CatalogEntry.decode("fuzz", 9, b, MetaBlock.HEADER + k * CatalogEntry.SIZE);
            }
        } catch (CorruptPoolException expected) {
            // rejected cleanly
        }
        // records are also decoded without a valid header around them
        try {
            CatalogEntry.decode("fuzz", 9, b, MetaBlock.HEADER);
        } catch (CorruptPoolException expected) {
            // rejected cleanly
        }
    }

    /**
     * Patches the base image with the input (records of: u8 block, u8 offset/16, u8 length, bytes)
     * and opens it. Checksums make most patches fail verification, so the input may also ask
     * for the patched metadata blocks to be re-sealed (first byte odd), which reaches the
     * structural checks behind the checksums.
     */
    @FuzzTest(maxDuration = "60s")
    void openPatchedPool(byte[] input) throws IOException {
        byte[] image = IMAGE.clone();
        boolean reseal = input.length > 0 && (input[0] & 1) == 1;
        int i = 1;
        java.util.Set<Integer> touched = new java.util.TreeSet<>();
        while (i + 3 <= input.length) {
            int block = Byte.toUnsignedInt(input[i]) % 64;
            int offset = Byte.toUnsignedInt(input[i + 1]) * 16;
            int length = Math.min(Byte.toUnsignedInt(input[i + 2]), input.length - i - 3);
            int at = block * BS + offset;
            System.arraycopy(input, i + 3, image, at, Math.min(length, image.length - at));
            touched.add(block);
            i += 3 + length;
        }
        if (reseal) {
            for (int block : touched) {
                ByteBuffer b = ByteBuffer.wrap(image, block * BS, BS).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
                if (block < Superblock.firstDataBlock(BS)) {
                    for (int slot = 0; slot < BS / Superblock.SLOT_SIZE; slot++) {
                        ByteBuffer s = ByteBuffer.wrap(image, block * BS + slot * Superblock.SLOT_SIZE,
                                Superblock.SLOT_SIZE).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
                        s.putInt(Superblock.CRC_OFFSET, Superblock.crc(s));
                    }
                } else {
                    MetaBlock.seal(b);
                }
            }
        }
        MemoryDevice disk = MemoryDevice.create("fuzz", image.length);
        disk.write(ByteBuffer.wrap(image), 0);
        Pool pool;
        try {
            pool = Pool.open(disk);
        } catch (CorruptPoolException expected) {
            return;
        }
        for (VolumeInfo info : pool.list()) {
            try (Device d = pool.openVolume(info.name())) {
                d.read(ByteBuffer.allocate((int) Math.min(info.size(), 1 << 20)), 0);
            }
        }
        pool.check();
    }
}

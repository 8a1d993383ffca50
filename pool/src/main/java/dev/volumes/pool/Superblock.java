package dev.volumes.pool;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * One superblock: the root of one committed generation. Encoded into a 256-byte record at the
 * start of a 4096-byte slot of the ring at the front of the device; see docs/pool-format.md
 * section "Superblock" for every field. Little-endian.
 *
 * @param uuid pool identity
 * @param generation commit number, 1 for the pool's first commit
 * @param blockSize bytes per block
 * @param totalBlocks blocks in the pool, ring included
 * @param reserveBlocks the space-freeing reserve in blocks
 * @param catalogBlock first catalog block (never 0 once created)
 * @param catalogBlocks catalog blocks in the chain
 * @param volumeCount entries in the catalog
 * @param nextVolumeId the id the next created volume gets
 * @param usedBlocks blocks referenced by this generation's tree and catalog (for check)
 * @param createdMillis pool creation time, epoch milliseconds
 * @param commitMillis this commit's time, epoch milliseconds
 * @param label free text, at most 64 UTF-8 bytes
 * @param previousGeneration the generation of the committed tree this one was made from, if it
 *     is not {@code generation - 1} (the first commit after a fallback at open); 0 otherwise
 */
record Superblock(UUID uuid, long generation, int blockSize, long totalBlocks, long reserveBlocks,
        long catalogBlock, long catalogBlocks, long volumeCount, long nextVolumeId, long usedBlocks,
        long createdMillis, long commitMillis, String label, long previousGeneration) {

    Superblock(UUID uuid, long generation, int blockSize, long totalBlocks, long reserveBlocks, long catalogBlock,
            long catalogBlocks, long volumeCount, long nextVolumeId, long usedBlocks, long createdMillis,
            long commitMillis, String label) {
        this(uuid, generation, blockSize, totalBlocks, reserveBlocks, catalogBlock, catalogBlocks, volumeCount,
                nextVolumeId, usedBlocks, createdMillis, commitMillis, label, 0);
    }

    /** The generation a fallback from this one goes to: {@code previousGeneration}, or {@code generation - 1}. */
    long fallbackGeneration() {
        return previousGeneration != 0 ? previousGeneration : generation - 1;
    }

    /** ASCII "VOLPOOL1" read as a little-endian long. */
    static final long MAGIC = 0x314C4F4F504C4F56L;
    static final int VERSION = 1;
    static final int SLOT_SIZE = 4096;
    static final int SLOTS = 4;
    static final int RECORD_SIZE = 256;
    static final int CRC_OFFSET = 252;
    /** Offset of {@code previousGeneration} (bytes 234..239 stay reserved). */
    static final int PREVIOUS_OFFSET = 240;
    /** Incompatible feature bits this build understands (none yet). */
    static final long KNOWN_INCOMPAT = 0;
    /** Read-only-compatible feature bits this build understands (none yet). */
    static final long KNOWN_RO_COMPAT = 0;

    /**
     * Why this build must not use a slot that is intact (magic and checksum right) but written by
     * a newer format, or null if it may: a different format version, an unknown incompatible
     * feature bit, or (unless {@code readOnly}) an unknown read-only-compatible feature bit.
     * Damaged slots (bad magic or checksum) are not this method's business: null.
     */
    static String unsupported(ByteBuffer raw, int slot, boolean readOnly) {
        if (raw.capacity() < SLOT_SIZE) {
            return null;
        }
        ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (b.getLong(0) != MAGIC || b.getInt(CRC_OFFSET) != crc(b)) {
            return null;
        }
        String where = "superblock slot " + slot + " (generation field " + b.getLong(56) + ")";
        int version = b.getInt(8);
        if (version != VERSION) {
            return where + " has format version " + version + "; this build reads version " + VERSION
                    + ". Open the pool with the version of volumes that wrote it";
        }
        long incompat = b.getLong(16) & ~KNOWN_INCOMPAT;
        if (incompat != 0) {
            return where + " needs incompatible feature bits 0x" + Long.toHexString(incompat)
                    + " that this build does not know (it knows 0x" + Long.toHexString(KNOWN_INCOMPAT)
                    + "): the pool was written by a newer version of volumes, which is needed to open it";
        }
        long roCompat = b.getLong(24) & ~KNOWN_RO_COMPAT;
        if (roCompat != 0 && !readOnly) {
            return where + " uses read-only-compatible feature bits 0x" + Long.toHexString(roCompat)
                    + " that this build does not know: it may only read the pool. Open it from a read-only"
                    + " device (for example FileDevice.openReadOnly or Devices.readOnly), or with a newer version";
        }
        return null;
    }

    /** Which ring slot a generation is written to. */
    static int slotOf(long generation) {
        return (int) Math.floorMod(generation, (long) SLOTS);
    }

    /** The first block after the ring for a block size. */
    static long firstDataBlock(int blockSize) {
        return ((long) SLOTS * SLOT_SIZE + blockSize - 1) / blockSize;
    }

    /** The full 4096-byte slot image (record then zeros), position 0. */
    ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(SLOT_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, MAGIC);
        b.putInt(8, VERSION);
        b.putInt(12, RECORD_SIZE);
        b.putLong(16, 0); // incompat features
        b.putLong(24, 0); // read-only-compatible features
        b.putLong(32, 0); // compatible features
        b.putLong(40, uuid.getMostSignificantBits());
        b.putLong(48, uuid.getLeastSignificantBits());
        b.putLong(56, generation);
        b.putInt(64, blockSize);
        b.putInt(68, slotOf(generation));
        b.putInt(72, SLOTS);
        b.putInt(76, 0);
        b.putLong(80, totalBlocks);
        b.putLong(88, firstDataBlock(blockSize));
        b.putLong(96, reserveBlocks);
        b.putLong(104, catalogBlock);
        b.putLong(112, catalogBlocks);
        b.putLong(120, volumeCount);
        b.putLong(128, nextVolumeId);
        b.putLong(136, usedBlocks);
        b.putLong(144, createdMillis);
        b.putLong(152, commitMillis);
        b.putLong(160, 0); // refcount tree root: 0 = rebuilt at open
        byte[] l = label.getBytes(StandardCharsets.UTF_8);
        b.putShort(168, (short) l.length);
        b.put(170, l);
        b.putLong(PREVIOUS_OFFSET, previousGeneration);
        b.putInt(CRC_OFFSET, crc(b));
        return b;
    }

    static int crc(ByteBuffer slot) {
        CRC32C c = new CRC32C();
        c.update(slot.duplicate().position(0).limit(CRC_OFFSET));
        return (int) c.getValue();
    }

    /** Whether the 4096 bytes are all zero (a never-written slot). */
    static boolean blank(ByteBuffer slot) {
        for (int i = 0; i < SLOT_SIZE; i += 8) {
            if (slot.getLong(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Decodes and verifies slot {@code slot} (4096 bytes from position 0). Never throws anything
     * but {@link CorruptPoolException} whatever the bytes.
     */
    static Superblock decode(String device, ByteBuffer raw, int slot) throws CorruptPoolException {
        if (raw.capacity() < SLOT_SIZE) {
            throw bad(device, slot, "slot is " + raw.capacity() + " bytes, expected " + SLOT_SIZE);
        }
        ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long magic = b.getLong(0);
        if (magic != MAGIC) {
            throw bad(device, slot, "magic 0x" + Long.toHexString(magic) + ", expected 0x" + Long.toHexString(MAGIC)
                    + " (\"VOLPOOL1\")");
        }
        int stored = b.getInt(CRC_OFFSET);
        int actual = crc(b);
        if (stored != actual) {
            throw bad(device, slot, "checksum 0x" + Integer.toHexString(actual) + ", stored 0x"
                    + Integer.toHexString(stored));
        }
        int version = b.getInt(8);
        if (version != VERSION) {
            throw bad(device, slot, "format version " + version + ", this build reads version " + VERSION);
        }
        if (b.getInt(12) != RECORD_SIZE) {
            throw bad(device, slot, "record size " + b.getInt(12) + ", expected " + RECORD_SIZE);
        }
        long incompat = b.getLong(16);
        if ((incompat & ~KNOWN_INCOMPAT) != 0) {
            throw bad(device, slot, "unknown incompatible features 0x" + Long.toHexString(incompat));
        }
        long generation = b.getLong(56);
        int blockSize = b.getInt(64);
        if (blockSize < PoolOptions.MIN_BLOCK_SIZE || blockSize > PoolOptions.MAX_BLOCK_SIZE
                || Integer.bitCount(blockSize) != 1) {
            throw bad(device, slot, "block size " + blockSize + ", expected a power of two from 4096 to 1048576");
        }
        if (generation <= 0) {
            throw bad(device, slot, "generation " + generation + ", expected > 0");
        }
        if (b.getInt(68) != slot || slotOf(generation) != slot) {
            throw bad(device, slot, "slot field " + b.getInt(68) + " / generation " + generation
                    + " belong in slot " + slotOf(generation));
        }
        if (b.getInt(72) != SLOTS) {
            throw bad(device, slot, "ring of " + b.getInt(72) + " slots, expected " + SLOTS);
        }
        long total = b.getLong(80);
        long first = b.getLong(88);
        if (first != firstDataBlock(blockSize)) {
            throw bad(device, slot, "first data block " + first + ", expected " + firstDataBlock(blockSize));
        }
        if (total <= first || total > Integer.MAX_VALUE) {
            throw bad(device, slot, "total blocks " + total + ", expected " + (first + 1) + ".." + Integer.MAX_VALUE);
        }
        long catalog = b.getLong(104);
        long catalogBlocks = b.getLong(112);
        if (catalog < first || catalog >= total || catalogBlocks < 1 || catalogBlocks > total) {
            throw bad(device, slot, "catalog at block " + catalog + " (" + catalogBlocks
                    + " blocks) outside the data area " + first + ".." + (total - 1));
        }
        long refcountRoot = b.getLong(160);
        if (refcountRoot != 0) {
            throw bad(device, slot, "refcount tree root " + refcountRoot + ", expected 0 in format version 1");
        }
        int labelLength = Short.toUnsignedInt(b.getShort(168));
        if (labelLength > PoolOptions.MAX_LABEL_BYTES) {
            throw bad(device, slot, "label of " + labelLength + " bytes, at most " + PoolOptions.MAX_LABEL_BYTES);
        }
        byte[] label = new byte[labelLength];
        b.get(170, label);
        long volumeCount = b.getLong(120);
        long reserve = b.getLong(96);
        long used = b.getLong(136);
        long previous = b.getLong(PREVIOUS_OFFSET);
        if (previous < 0 || previous >= generation) {
            throw bad(device, slot, "previous generation " + previous + ", expected 0 or 1.." + (generation - 1));
        }
        if (volumeCount < 0 || reserve < 0 || reserve > total || used < 0 || used > total) {
            throw bad(device, slot, "volume count " + volumeCount + ", reserve " + reserve + " or used blocks "
                    + used + " out of range for " + total + " blocks");
        }
        return new Superblock(new UUID(b.getLong(40), b.getLong(48)), generation, blockSize, total, reserve,
                catalog, catalogBlocks, volumeCount, b.getLong(128), used, b.getLong(144), b.getLong(152),
                new String(label, StandardCharsets.UTF_8), previous);
    }

    private static CorruptPoolException bad(String device, int slot, String what) {
        return new CorruptPoolException(device, -1, "superblock slot " + slot + " (byte offset "
                + (long) slot * SLOT_SIZE + "): " + what);
    }
}

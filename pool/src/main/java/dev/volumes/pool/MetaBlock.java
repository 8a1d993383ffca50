package dev.volumes.pool;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The 64-byte header every metadata block (map node or catalog block) starts with, and the
 * checksum over the whole block. Little-endian; see docs/pool-format.md "Metadata block header".
 *
 * <pre>
 *  0 u32 magic "VPMD"     4 u16 type     6 u16 level
 *  8 u64 self block      16 u64 owner (volume id, 0 = pool)
 * 24 u64 generation      32 u64 pool tag (uuid msb ^ lsb)
 * 40 u32 count           44 u32 reserved (0)
 * 48 u64 next            56 u32 reserved (0)     60 u32 CRC32C of [0,60) ++ [64,blockSize)
 * </pre>
 */
final class MetaBlock {

    /** "VPMD" in little-endian byte order. */
    static final int MAGIC = 0x444D5056;
    static final int HEADER = 64;
    static final int TYPE_MAP = 1;
    static final int TYPE_CATALOG = 2;
    /** Bits 0..47 of a map entry: the block number. */
    static final long ENTRY_BLOCK = (1L << 48) - 1;
    /** Bit 48 of a leaf entry: allocated but reads as zeros (written by write-zeroes, format v1). */
    static final long ENTRY_ZEROED = 1L << 48;

    private MetaBlock() {}

    /** The header as decoded. */
    record Header(int type, int level, long block, long owner, long generation, int count, long next) {}

    static long poolTag(UUID uuid) {
        return uuid.getMostSignificantBits() ^ uuid.getLeastSignificantBits();
    }

    /** Entries per map node for a block size. */
    static int fanout(int blockSize) {
        return (blockSize - HEADER) / 8;
    }

    static ByteBuffer allocate(int blockSize) {
        return ByteBuffer.allocate(blockSize).order(ByteOrder.LITTLE_ENDIAN);
    }

    static void putHeader(ByteBuffer b, int type, int level, long self, long owner, long generation, long tag,
            int count, long next) {
        b.putInt(0, MAGIC);
        b.putShort(4, (short) type);
        b.putShort(6, (short) level);
        b.putLong(8, self);
        b.putLong(16, owner);
        b.putLong(24, generation);
        b.putLong(32, tag);
        b.putInt(40, count);
        b.putInt(44, 0);
        b.putLong(48, next);
        b.putInt(56, 0);
    }

    /** Computes and stores the checksum; call last. */
    static void seal(ByteBuffer b) {
        b.putInt(60, crc(b));
    }

    static int crc(ByteBuffer b) {
        CRC32C c = new CRC32C();
        c.update(b.duplicate().position(0).limit(60));
        c.update(b.duplicate().position(HEADER).limit(b.capacity()));
        return (int) c.getValue();
    }

    /**
     * Verifies a block read from {@code block}: checksum, magic, type, level, self address, pool
     * tag, generation and reserved fields. Throws only {@link CorruptPoolException}.
     *
     * @param level the expected level, or -1 for any
     */
    static Header verify(String device, ByteBuffer raw, long block, int type, int level, long tag, long maxGeneration)
            throws CorruptPoolException {
        ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        String what = type == TYPE_MAP ? "map node" : "catalog block";
        if (b.capacity() < HEADER + 8) {
            throw new CorruptPoolException(device, block, what + " of " + b.capacity() + " bytes is too short");
        }
        int magic = b.getInt(0);
        if (magic != MAGIC) {
            throw new CorruptPoolException(device, block, "expected a " + what + " (magic 0x"
                    + Integer.toHexString(MAGIC) + "), found magic 0x" + Integer.toHexString(magic));
        }
        int stored = b.getInt(60);
        int actual = crc(b);
        if (stored != actual) {
            throw new CorruptPoolException(device, block, what + " checksum 0x" + Integer.toHexString(actual)
                    + ", stored 0x" + Integer.toHexString(stored));
        }
        int foundType = Short.toUnsignedInt(b.getShort(4));
        int foundLevel = Short.toUnsignedInt(b.getShort(6));
        long self = b.getLong(8);
        long generation = b.getLong(24);
        if (foundType != type) {
            throw new CorruptPoolException(device, block, "expected a " + what + " (type " + type + "), found type "
                    + foundType);
        }
        if (level >= 0 && foundLevel != level) {
            throw new CorruptPoolException(device, block, what + " at level " + foundLevel + ", expected level "
                    + level);
        }
        if (self != block) {
            throw new CorruptPoolException(device, block, what + " says it is block " + self
                    + " (misdirected or stale write)");
        }
        if (b.getLong(32) != tag) {
            throw new CorruptPoolException(device, block, what + " belongs to another pool (tag 0x"
                    + Long.toHexString(b.getLong(32)) + ", expected 0x" + Long.toHexString(tag) + ")");
        }
        if (generation <= 0 || generation > maxGeneration) {
            throw new CorruptPoolException(device, block, what + " generation " + generation
                    + ", expected 1.." + maxGeneration);
        }
        if (b.getInt(44) != 0 || b.getInt(56) != 0) {
            throw new CorruptPoolException(device, block, what + " reserved header fields are not zero");
        }
        return new Header(foundType, foundLevel, self, b.getLong(16), generation, b.getInt(40), b.getLong(48));
    }
}

package dev.volumes.pool;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * One 192-byte catalog record: a named volume, snapshot or clone and the root of its map. See
 * docs/pool-format.md "Catalog".
 *
 * <pre>
 *   0 u64 id          8 u64 origin id (0 = none)   16 u64 root block (0 = all holes)
 *  24 u64 size bytes 32 s64 created seconds        40 u32 created nanos
 *  44 u8 kind        45 u8 depth (map levels)       46 u8 name length   47 u8 origin name length
 *  48 u64 lineage (id of the first volume of its line; 0 = unknown, written before lineages)
 *  56 name (64 bytes, UTF-8, zero padded)          120 origin name (64 bytes)
 * 184 u64 reserved (0)
 * </pre>
 */
record CatalogEntry(long id, long originId, long root, long size, Instant created, VolumeKind kind, int depth,
        String name, String originName, long lineage) {

    CatalogEntry(long id, long originId, long root, long size, Instant created, VolumeKind kind, int depth,
            String name, String originName) {
        this(id, originId, root, size, created, kind, depth, name, originName, 0);
    }

    static final int SIZE = 192;

    void encode(ByteBuffer b, int at) {
        b.putLong(at, id);
        b.putLong(at + 8, originId);
        b.putLong(at + 16, root);
        b.putLong(at + 24, size);
        b.putLong(at + 32, created.getEpochSecond());
        b.putInt(at + 40, created.getNano());
        b.put(at + 44, (byte) kind.code());
        b.put(at + 45, (byte) depth);
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] o = originName.getBytes(StandardCharsets.UTF_8);
        b.put(at + 46, (byte) n.length);
        b.put(at + 47, (byte) o.length);
        b.putLong(at + 48, lineage);
        b.put(at + 56, n);
        b.put(at + 120, o);
        b.putLong(at + 184, 0);
    }

    /** Decodes the record at {@code at}; throws only {@link CorruptPoolException}. */
    static CatalogEntry decode(String device, long block, ByteBuffer b, int at) throws CorruptPoolException {
        int kindCode = Byte.toUnsignedInt(b.get(at + 44));
        VolumeKind kind = VolumeKind.fromCode(kindCode);
        int depth = Byte.toUnsignedInt(b.get(at + 45));
        int nameLength = Byte.toUnsignedInt(b.get(at + 46));
        int originLength = Byte.toUnsignedInt(b.get(at + 47));
        String where = "catalog record at byte " + at;
        if (kind == null) {
            throw new CorruptPoolException(device, block, where + ": kind " + kindCode + ", expected 1, 2 or 3");
        }
        if (depth < 1 || depth > Names.MAX_DEPTH) {
            throw new CorruptPoolException(device, block, where + ": depth " + depth + ", expected 1.."
                    + Names.MAX_DEPTH);
        }
        if (nameLength < 1 || nameLength > Names.MAX_LENGTH || originLength > Names.MAX_LENGTH) {
            throw new CorruptPoolException(device, block, where + ": name length " + nameLength
                    + " / origin length " + originLength + ", expected 1..64 / 0..64");
        }
        long seconds = b.getLong(at + 32);
        int nanos = b.getInt(at + 40);
        long size = b.getLong(at + 24);
        if (size < 0 || nanos < 0 || nanos > 999_999_999 || Math.abs(seconds) > 1L << 40) {
            throw new CorruptPoolException(device, block, where + ": size " + size + " or time " + seconds + "."
                    + nanos + " out of range");
        }
        byte[] n = new byte[nameLength];
        b.get(at + 56, n);
        byte[] o = new byte[originLength];
        b.get(at + 120, o);
        String name = new String(n, StandardCharsets.UTF_8);
        String problem = Names.problem(name);
        if (problem != null) {
            throw new CorruptPoolException(device, block, where + ": " + problem);
        }
        return new CatalogEntry(b.getLong(at), b.getLong(at + 8), b.getLong(at + 16), size,
                Instant.ofEpochSecond(seconds, nanos), kind, depth, name, new String(o, StandardCharsets.UTF_8),
                b.getLong(at + 48));
    }
}

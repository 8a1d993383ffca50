package dev.volumes.replica;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The engine's persisted state: one slot of the state file (see {@link StateStore} and
 * docs/replication.md for the byte layout).
 *
 * @param sequence commit counter; the valid slot with the higher one is current
 * @param term the writer's term
 * @param generation the set's generation (also written to in-sync replicas' headers)
 * @param regionSize bytes covered by one dirty bit
 * @param dataSize bytes of the replicated device
 * @param members per-replica records in configuration order
 * @param bitmap dirty regions: bit {@code r} (byte {@code r/8}, bit {@code r%8}, LSB first) set
 *     means region {@code r} may differ between replicas
 */
record StateRecord(long sequence, long term, long generation, long regionSize, long dataSize,
        List<MemberRecord> members, byte[] bitmap) {

    static final byte[] MAGIC = "VOLRSTA1".getBytes(StandardCharsets.US_ASCII);
    static final int MAX_MEMBERS = 16;
    static final int MAX_ID_BYTES = 64;
    static final int MAX_REASON_BYTES = 200;
    static final int FIXED = 64;
    static final int MEMBER_MAX = 2 + MAX_ID_BYTES + 1 + 8 + 2 + MAX_REASON_BYTES;

    /**
     * One replica's persisted record.
     *
     * @param id replica id
     * @param inSync whether it was in sync
     * @param baseGeneration the generation its header holds (for a stale replica: the one it kept
     *     when it dropped out)
     * @param needsFull whether only a full rebuild can bring it back (no usable dirty history)
     * @param reason why it is out of sync
     */
    record MemberRecord(String id, boolean inSync, long baseGeneration, boolean needsFull, String reason) {
        MemberRecord {
            if (id == null || id.isEmpty() || id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
                throw new IllegalArgumentException("replica id must be 1.." + MAX_ID_BYTES + " UTF-8 bytes: " + id);
            }
            reason = reason == null ? "" : reason;
        }
    }

    StateRecord {
        members = List.copyOf(members);
        if (members.size() > MAX_MEMBERS) {
            throw new IllegalArgumentException("at most " + MAX_MEMBERS + " replicas, got " + members.size());
        }
        if (bitmap.length != bitmapBytes(dataSize, regionSize)) {
            throw new IllegalArgumentException("bitmap of " + bitmap.length + " bytes, expected "
                    + bitmapBytes(dataSize, regionSize));
        }
    }

    static int regions(long dataSize, long regionSize) {
        return Math.toIntExact((dataSize + regionSize - 1) / regionSize);
    }

    static int bitmapBytes(long dataSize, long regionSize) {
        return (regions(dataSize, regionSize) + 7) / 8;
    }

    /** Bytes of one slot for a device of {@code dataSize} with {@code regionSize} regions. */
    static int slotSize(long dataSize, long regionSize) {
        long raw = FIXED + (long) MAX_MEMBERS * MEMBER_MAX + bitmapBytes(dataSize, regionSize) + 4;
        return Math.toIntExact((raw + 4095) / 4096 * 4096);
    }

    byte[] encode() {
        int slot = slotSize(dataSize, regionSize);
        ByteBuffer b = ByteBuffer.allocate(slot);
        b.put(MAGIC).putInt(1).putInt(slot).putLong(sequence).putLong(term).putLong(generation)
                .putLong(regionSize).putLong(dataSize).putInt(members.size()).putInt(bitmap.length);
        for (MemberRecord m : members) {
            byte[] id = m.id().getBytes(StandardCharsets.UTF_8);
            byte[] reason = truncate(m.reason().getBytes(StandardCharsets.UTF_8));
            b.putShort((short) id.length).put(id);
            b.put((byte) ((m.inSync() ? 1 : 0) | (m.needsFull() ? 2 : 0)));
            b.putLong(m.baseGeneration());
            b.putShort((short) reason.length).put(reason);
        }
        b.put(bitmap);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    private static byte[] truncate(byte[] reason) {
        return reason.length <= MAX_REASON_BYTES ? reason : Arrays.copyOf(reason, MAX_REASON_BYTES);
    }

    /**
     * Decodes a slot.
     *
     * @throws IOException saying what is wrong (magic, version, sizes, CRC) if the slot is not valid
     */
    static StateRecord decode(byte[] slot, String where) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(slot);
        try {
            byte[] magic = new byte[8];
            b.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException(where + ": magic is not VOLRSTA1");
            }
            int version = b.getInt();
            if (version != 1) {
                throw new IOException(where + ": version " + version + ", expected 1");
            }
            int length = b.getInt();
            if (length != slot.length) {
                throw new IOException(where + ": slot length " + length + ", expected " + slot.length);
            }
            long sequence = b.getLong();
            long term = b.getLong();
            long generation = b.getLong();
            long regionSize = b.getLong();
            long dataSize = b.getLong();
            int count = b.getInt();
            int bitmapLength = b.getInt();
            if (count < 0 || count > MAX_MEMBERS || regionSize <= 0 || dataSize <= 0
                    || bitmapLength != bitmapBytes(dataSize, regionSize)) {
                throw new IOException(where + ": implausible fields (members=" + count + ", regionSize="
                        + regionSize + ", dataSize=" + dataSize + ", bitmap=" + bitmapLength + ")");
            }
            List<MemberRecord> members = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                String id = string(b, MAX_ID_BYTES, where);
                int flags = b.get();
                long base = b.getLong();
                String reason = string(b, MAX_REASON_BYTES, where);
                members.add(new MemberRecord(id, (flags & 1) != 0, base, (flags & 2) != 0, reason));
            }
            byte[] bitmap = new byte[bitmapLength];
            b.get(bitmap);
            CRC32C crc = new CRC32C();
            crc.update(slot, 0, b.position());
            int stored = b.getInt();
            if (stored != (int) crc.getValue()) {
                throw new IOException(where + ": CRC32C is 0x" + Integer.toHexString(stored) + ", computed 0x"
                        + Integer.toHexString((int) crc.getValue()));
            }
            return new StateRecord(sequence, term, generation, regionSize, dataSize, members, bitmap);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new IOException(where + ": truncated or invalid record: " + e, e);
        }
    }

    private static String string(ByteBuffer b, int max, String where) throws IOException {
        int n = Short.toUnsignedInt(b.getShort());
        if (n > max) {
            throw new IOException(where + ": string of " + n + " bytes, limit " + max);
        }
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    MemberRecord member(String id) {
        for (MemberRecord m : members) {
            if (m.id().equals(id)) {
                return m;
            }
        }
        return null;
    }
}

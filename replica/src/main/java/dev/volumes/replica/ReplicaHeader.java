package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The 64-byte header every replica carries in the last {@link #AREA} bytes of its device (the
 * replicated device is that much smaller). It records the generation at which the replica was
 * last known to hold every acknowledged write; a replica whose generation is below the highest
 * one found at open is stale and is never read or used as a rebuild source. Format (big-endian),
 * documented with a worked example in docs/replication.md:
 *
 * <pre>
 *  0  8  magic "VOLRHDR1"
 *  8  4  version (1)
 * 12  4  reserved (0)
 * 16  8  term of the writer that wrote it
 * 24  8  generation
 * 32  8  data size (bytes of the replicated device)
 * 40 20  reserved (0)
 * 60  4  CRC32C of bytes 0..59
 * </pre>
 * An all-zero header is a blank replica (generation 0).
 */
record ReplicaHeader(long term, long generation, long dataSize) {

    /** Bytes reserved at the end of each replica. */
    static final int AREA = 4096;
    static final int LENGTH = 64;
    static final byte[] MAGIC = "VOLRHDR1".getBytes(StandardCharsets.US_ASCII);
    static final ReplicaHeader BLANK = new ReplicaHeader(0, 0, 0);

    ReplicaHeader {
        if (term < 0 || generation < 0 || dataSize < 0) {
            throw new IllegalArgumentException("negative field in replica header: term=" + term + " generation="
                    + generation + " dataSize=" + dataSize);
        }
    }

    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(LENGTH);
        b.put(MAGIC).putInt(1).putInt(0).putLong(term).putLong(generation).putLong(dataSize);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, 60);
        b.putInt(60, (int) crc.getValue());
        return b.array();
    }

    /**
     * Decodes a header.
     *
     * @throws IOException naming {@code replica} if the bytes are neither blank nor a valid header
     */
    static ReplicaHeader decode(byte[] bytes, String replica) throws IOException {
        boolean blank = true;
        for (byte x : bytes) {
            blank &= x == 0;
        }
        if (blank) {
            return BLANK;
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        byte[] magic = new byte[8];
        b.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new IOException("replica " + replica + ": header magic is "
                    + new String(magic, StandardCharsets.ISO_8859_1) + ", expected VOLRHDR1");
        }
        int version = b.getInt();
        if (version != 1) {
            throw new IOException("replica " + replica + ": header version " + version + ", expected 1");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, 60);
        int stored = b.getInt(60);
        if (stored != (int) crc.getValue()) {
            throw new IOException("replica " + replica + ": header CRC32C is 0x" + Integer.toHexString(stored)
                    + ", computed 0x" + Integer.toHexString((int) crc.getValue()));
        }
        try {
            return new ReplicaHeader(b.getLong(16), b.getLong(24), b.getLong(32));
        } catch (IllegalArgumentException e) {
            throw new IOException("replica " + replica + ": " + e.getMessage(), e);
        }
    }

    static ReplicaHeader read(Device device, String replica) throws IOException {
        long at = device.size() - AREA;
        if (at <= 0) {
            throw new IOException("replica " + replica + ": device of " + device.size()
                    + " bytes is too small for the " + AREA + "-byte replica header area");
        }
        ByteBuffer buf = ByteBuffer.allocate(LENGTH);
        device.read(buf, at);
        return decode(buf.array(), replica);
    }

    /** Writes this header with FUA: durable on return. */
    void write(Device device) throws IOException {
        device.write(ByteBuffer.wrap(encode()), device.size() - AREA, WriteFlag.FUA);
    }
}

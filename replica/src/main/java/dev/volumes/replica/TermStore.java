package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The highest term a replica export has promised, durably: two alternating 512-byte slots on a
 * device (the file {@code <export>.term} in the replica server's state directory). A promise
 * writes the older slot and syncs the device before it returns, so a promise that was answered
 * survives any crash; a torn slot fails its CRC and the other slot stays current. Format (big
 * endian, documented in docs/replication.md):
 *
 * <pre>
 *  0  8  magic "VOLRTRM1"
 *  8  4  version (1)
 * 12  4  writer id length n (0..64)
 * 16  8  sequence (higher wins)
 * 24  8  promised term
 * 32  n  writer id (UTF-8), rest zero up to 96
 * 96  4  CRC32C of bytes 0..95
 * </pre>
 * Thread-safe (synchronized).
 */
final class TermStore implements Closeable {

    static final int SLOT = 512;
    static final long DEVICE_SIZE = 2 * SLOT;
    static final byte[] MAGIC = "VOLRTRM1".getBytes(StandardCharsets.US_ASCII);

    /** A promise: {@code term} to {@code writer}. */
    record Promise(long sequence, long term, String writer) {}

    private final Device device;
    private Promise current = new Promise(0, 0, "");

    private TermStore(Device device) {
        this.device = device;
    }

    static TermStore open(Device device) throws IOException {
        if (device.size() < DEVICE_SIZE) {
            throw new IOException("term store " + device.name() + " has " + device.size() + " bytes, needs "
                    + DEVICE_SIZE);
        }
        TermStore s = new TermStore(device);
        for (int i = 0; i < 2; i++) {
            ByteBuffer b = ByteBuffer.allocate(SLOT);
            device.read(b, (long) i * SLOT);
            Promise p = decode(b.array());
            if (p != null && p.sequence() > s.current.sequence()) {
                s.current = p;
            }
        }
        return s;
    }

    static byte[] encode(Promise p) {
        byte[] w = p.writer().getBytes(StandardCharsets.UTF_8);
        if (w.length > 64) {
            throw new IllegalArgumentException("writer id longer than 64 bytes: " + p.writer());
        }
        ByteBuffer b = ByteBuffer.allocate(SLOT);
        b.put(MAGIC).putInt(1).putInt(w.length).putLong(p.sequence()).putLong(p.term()).put(w);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, 96);
        b.putInt(96, (int) crc.getValue());
        return b.array();
    }

    /** Decodes a slot; null if it is blank or invalid. */
    static Promise decode(byte[] slot) {
        ByteBuffer b = ByteBuffer.wrap(slot);
        byte[] magic = new byte[8];
        b.get(magic);
        if (!Arrays.equals(magic, MAGIC) || b.getInt() != 1) {
            return null;
        }
        CRC32C crc = new CRC32C();
        crc.update(slot, 0, 96);
        if (b.getInt(96) != (int) crc.getValue()) {
            return null;
        }
        int n = b.getInt();
        if (n < 0 || n > 64) {
            return null;
        }
        long seq = b.getLong();
        long term = b.getLong();
        byte[] w = new byte[n];
        b.get(w);
        return new Promise(seq, term, new String(w, StandardCharsets.UTF_8));
    }

    synchronized Promise current() {
        return current;
    }

    /** Durably records {@code term} promised to {@code writer}; returns after the device sync. */
    synchronized void promise(long term, String writer) throws IOException {
        Promise next = new Promise(current.sequence() + 1, term, writer);
        device.write(ByteBuffer.wrap(encode(next)), (next.sequence() % 2) * SLOT);
        device.sync();
        current = next;
    }

    @Override
    public void close() throws IOException {
        device.close();
    }
}

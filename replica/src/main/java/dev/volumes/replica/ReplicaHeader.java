package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The metadata every replica carries in the last {@link #AREA} bytes of its device (the
 * replicated device is that much smaller): a 64-byte header and the set's dirty bitmap.
 *
 * <p>The header records the generation at which the replica was last known to hold every
 * acknowledged write; a replica whose generation is below the highest one found at open is stale
 * and is never read or used as a rebuild source. The bitmap is the writer's activity log: every
 * region a write may be in flight on has its bit set here (on every in-sync replica) before the
 * write is sent, so a new writer — on any node — can make the in-sync replicas identical again
 * after the old writer died mid-write, and can delta-rebuild stale replicas.
 *
 * <p>Format (big-endian), with a worked example in docs/replication.md:
 * <pre>
 *   0  8  magic "VOLRHDR1"
 *   8  4  version (1)
 *  12  4  reserved (0)
 *  16  8  term of the writer that wrote it
 *  24  8  generation
 *  32  8  data size (bytes of the replicated device)
 *  40  8  region size (bytes per bitmap bit)
 *  48  4  bitmap length in bytes
 *  52  4  CRC32C of the bitmap
 *  56  4  reserved (0)
 *  60  4  CRC32C of bytes 0..59
 * 512  n  bitmap: bit r (byte r/8, bit r%8, LSB first) = region r may differ between replicas
 * </pre>
 * An all-zero header is a blank replica (generation 0).
 */
record ReplicaHeader(long term, long generation, long dataSize, long regionSize, byte[] bitmap) {

    /** Bytes reserved at the end of each replica. */
    static final int AREA = 64 << 10;
    static final int LENGTH = 64;
    static final int BITMAP_OFFSET = 512;
    /** Regions the area's bitmap can hold. */
    static final long MAX_REGIONS = (long) (AREA - BITMAP_OFFSET) * 8;
    static final byte[] MAGIC = "VOLRHDR1".getBytes(StandardCharsets.US_ASCII);
    static final ReplicaHeader BLANK = new ReplicaHeader(0, 0, 0, 0, new byte[0]);

    ReplicaHeader {
        if (term < 0 || generation < 0 || dataSize < 0 || regionSize < 0) {
            throw new IllegalArgumentException("negative field in replica header: term=" + term + " generation="
                    + generation + " dataSize=" + dataSize + " regionSize=" + regionSize);
        }
        if (bitmap != null && bitmap.length > AREA - BITMAP_OFFSET) {
            throw new IllegalArgumentException("bitmap of " + bitmap.length + " bytes does not fit the header area");
        }
    }

    /** Whether the bitmap was read intact (null: torn or missing, so every region must count as dirty). */
    boolean bitmapValid() {
        return bitmap != null;
    }

    /** Header and bitmap, padded to whole 512-byte sectors. */
    byte[] encode() {
        int n = bitmap.length;
        byte[] out = new byte[BITMAP_OFFSET + (n + 511) / 512 * 512];
        ByteBuffer b = ByteBuffer.wrap(out);
        CRC32C bc = new CRC32C();
        bc.update(bitmap);
        b.put(MAGIC).putInt(1).putInt(0).putLong(term).putLong(generation).putLong(dataSize).putLong(regionSize)
                .putInt(n).putInt((int) bc.getValue()).putInt(0);
        CRC32C crc = new CRC32C();
        crc.update(out, 0, 60);
        b.putInt(60, (int) crc.getValue());
        System.arraycopy(bitmap, 0, out, BITMAP_OFFSET, n);
        return out;
    }

    /**
     * Decodes the first 64 bytes (header); the bitmap is read separately.
     *
     * @throws IOException naming {@code replica} if the bytes are neither blank nor a valid header
     */
    static ReplicaHeader decodeHeader(byte[] bytes, String replica) throws IOException {
        boolean blank = true;
        for (int i = 0; i < LENGTH; i++) {
            blank &= bytes[i] == 0;
        }
        if (blank) {
            return BLANK;
        }
        ByteBuffer b = ByteBuffer.wrap(bytes, 0, LENGTH);
        byte[] magic = new byte[8];
        b.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
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
        int n = b.getInt(48);
        if (n < 0 || n > AREA - BITMAP_OFFSET) {
            throw new IOException("replica " + replica + ": bitmap length " + n + " exceeds the header area");
        }
        try {
            return new ReplicaHeader(b.getLong(16), b.getLong(24), b.getLong(32), b.getLong(40), new byte[n]);
        } catch (IllegalArgumentException e) {
            throw new IOException("replica " + replica + ": " + e.getMessage(), e);
        }
    }

    /** Reads header and bitmap; a bitmap whose CRC does not match comes back null. */
    static ReplicaHeader read(Device device, String replica) throws IOException {
        long at = device.size() - AREA;
        if (at <= 0) {
            throw new IOException("replica " + replica + ": device of " + device.size()
                    + " bytes is too small for the " + AREA + "-byte replica header area");
        }
        ByteBuffer buf = ByteBuffer.allocate(BITMAP_OFFSET);
        device.read(buf, at);
        byte[] head = buf.array();
        ReplicaHeader h = decodeHeader(head, replica);
        if (h == BLANK || h.bitmap.length == 0) {
            return h;
        }
        ByteBuffer bm = ByteBuffer.allocate(h.bitmap.length);
        device.read(bm, at + BITMAP_OFFSET);
        CRC32C crc = new CRC32C();
        crc.update(bm.array());
        int want = ByteBuffer.wrap(head).getInt(52);
        byte[] bitmap = want == (int) crc.getValue() ? bm.array() : null;
        return new ReplicaHeader(h.term, h.generation, h.dataSize, h.regionSize, bitmap);
    }

    /**
     * Makes {@code device} a blank replica (zero header sector, generation 0) with FUA: whatever
     * history it carried from earlier use can no longer make it look fresh.
     */
    static void wipe(Device device) throws IOException {
        device.write(ByteBuffer.allocate(BITMAP_OFFSET), device.size() - AREA, WriteFlag.FUA);
    }

    /** Writes header and bitmap with FUA: durable on return. */
    void write(Device device) throws IOException {
        device.write(ByteBuffer.wrap(encode()), device.size() - AREA, WriteFlag.FUA);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ReplicaHeader h && term == h.term && generation == h.generation && dataSize == h.dataSize
                && regionSize == h.regionSize && Arrays.equals(bitmap, h.bitmap);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(generation) * 31 + Arrays.hashCode(bitmap);
    }

    @Override
    public String toString() {
        return "ReplicaHeader[term=" + term + ", generation=" + generation + ", dataSize=" + dataSize + ", regionSize="
                + regionSize + ", bitmap=" + (bitmap == null ? "torn" : bitmap.length + " bytes") + "]";
    }
}

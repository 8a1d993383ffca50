package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Encodes what the server sends during the handshake. Every method returns a new buffer ready to
 * be written (position 0, limit = length). Stateless.
 */
final class HandshakeEncoder {

    private HandshakeEncoder() {}

    /** {@code NBDMAGIC}, {@code IHAVEOPT}, handshake flags (FIXED_NEWSTYLE | NO_ZEROES): 18 bytes. */
    static ByteBuffer greeting() {
        return ByteBuffer.allocate(18)
                .putLong(Wire.NBDMAGIC)
                .putLong(Wire.IHAVEOPT)
                .putShort((short) (Wire.FLAG_FIXED_NEWSTYLE | Wire.FLAG_NO_ZEROES))
                .flip();
    }

    /** An option reply: magic, option, type, length, data. */
    static ByteBuffer reply(int option, int type, ByteBuffer data) {
        int length = data == null ? 0 : data.remaining();
        ByteBuffer out = ByteBuffer.allocate(20 + length)
                .putLong(Wire.OPTION_REPLY_MAGIC)
                .putInt(option)
                .putInt(type)
                .putInt(length);
        if (data != null) {
            out.put(data.duplicate());
        }
        return out.flip();
    }

    /** {@code NBD_REP_ACK} for {@code option}. */
    static ByteBuffer ack(int option) {
        return reply(option, Wire.REP_ACK, null);
    }

    /** An error reply of {@code type} with a human-readable message (truncated to 4096 bytes). */
    static ByteBuffer error(int option, int type, String message) {
        return reply(option, type, ByteBuffer.wrap(utf8(message)));
    }

    /** {@code NBD_REP_SERVER}: name length, name, then the description. */
    static ByteBuffer server(String name, String description) {
        byte[] n = utf8(name);
        byte[] d = utf8(description == null ? "" : description);
        ByteBuffer data = ByteBuffer.allocate(4 + n.length + d.length).putInt(n.length).put(n).put(d).flip();
        return reply(Wire.OPT_LIST, Wire.REP_SERVER, data);
    }

    /** {@code NBD_REP_INFO} / {@code NBD_INFO_EXPORT}: size and transmission flags. */
    static ByteBuffer infoExport(int option, long size, int transmissionFlags) {
        ByteBuffer data = ByteBuffer.allocate(12).putShort((short) Wire.INFO_EXPORT).putLong(size)
                .putShort((short) transmissionFlags).flip();
        return reply(option, Wire.REP_INFO, data);
    }

    /** {@code NBD_REP_INFO} carrying a string ({@code NBD_INFO_NAME} or {@code NBD_INFO_DESCRIPTION}). */
    static ByteBuffer infoString(int option, int infoType, String value) {
        byte[] v = utf8(value);
        ByteBuffer data = ByteBuffer.allocate(2 + v.length).putShort((short) infoType).put(v).flip();
        return reply(option, Wire.REP_INFO, data);
    }

    /** {@code NBD_REP_INFO} / {@code NBD_INFO_BLOCK_SIZE}. */
    static ByteBuffer infoBlockSize(int option, int minimum, int preferred, int maximum) {
        ByteBuffer data = ByteBuffer.allocate(14).putShort((short) Wire.INFO_BLOCK_SIZE).putInt(minimum)
                .putInt(preferred).putInt(maximum).flip();
        return reply(option, Wire.REP_INFO, data);
    }

    /** {@code NBD_REP_META_CONTEXT}: id then name. */
    static ByteBuffer metaContext(int option, int id, String name) {
        byte[] n = utf8(name);
        return reply(option, Wire.REP_META_CONTEXT, ByteBuffer.allocate(4 + n.length).putInt(id).put(n).flip());
    }

    /**
     * The reply to {@code NBD_OPT_EXPORT_NAME}: size, transmission flags and, unless the client
     * negotiated NO_ZEROES, 124 zero bytes.
     */
    static ByteBuffer exportNameReply(long size, int transmissionFlags, boolean noZeroes) {
        return ByteBuffer.allocate(noZeroes ? 10 : 134).putLong(size).putShort((short) transmissionFlags)
                .position(0);
    }

    private static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= Wire.MAX_STRING) {
            return b;
        }
        byte[] cut = new byte[Wire.MAX_STRING];
        System.arraycopy(b, 0, cut, 0, cut.length);
        return cut;
    }
}

package dev.volumes.nbd;

import java.nio.ByteBuffer;

/**
 * Encodes transmission request headers, the inverse of {@link RequestDecoder}: compact (28 bytes,
 * magic {@code 0x25609513}, 32-bit length) or, after {@code NBD_OPT_EXTENDED_HEADERS}, extended
 * (32 bytes, magic {@code 0x21e41c71}, 64-bit length). One encoder for every sender of requests:
 * the client ({@link ClientWire}: requests and {@code NBD_CMD_DISC}) and the byte-level test
 * client; {@code RequestDecoderTest} checks it against the decoder's golden bytes. Stateless.
 */
final class RequestEncoder {

    private RequestEncoder() {}

    /** Header size in bytes for the negotiated style. */
    static int size(boolean extended) {
        return extended ? 32 : 28;
    }

    /** A new header buffer, ready to write (position 0). */
    static ByteBuffer header(boolean extended, int flags, int type, long cookie, long offset, long length) {
        return put(ByteBuffer.allocate(size(extended)), extended, flags, type, cookie, offset, length).flip();
    }

    /**
     * Puts a header at {@code dst}'s position (advancing it) and returns {@code dst}. In compact
     * style {@code length} must fit in 32 unsigned bits.
     */
    static ByteBuffer put(ByteBuffer dst, boolean extended, int flags, int type, long cookie, long offset,
            long length) {
        dst.putInt(extended ? Wire.EXTENDED_REQUEST_MAGIC : Wire.REQUEST_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putLong(offset);
        return extended ? dst.putLong(length) : dst.putInt((int) length);
    }
}

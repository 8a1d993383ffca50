package dev.volumes.nbd;

import java.nio.ByteBuffer;

/**
 * Decodes transmission request headers: compact (28 bytes, magic {@code 0x25609513}, 32-bit
 * length) or, once {@code NBD_OPT_EXTENDED_HEADERS} was negotiated, extended (32 bytes, magic
 * {@code 0x21e41c71}, 64-bit length).
 *
 * <p>A state machine over {@link ByteBuffer} like {@link OptionDecoder}: it returns a header
 * when complete and {@code null} when it needs more bytes. Write payloads are not read here; the
 * connection reads them only after it has reserved memory for them (backpressure). Not
 * thread-safe.
 */
final class RequestDecoder {

    /**
     * One request header.
     *
     * @param flags command flags (16 bits)
     * @param type command type (16 bits)
     * @param cookie opaque value echoed in the reply
     * @param offset unsigned 64-bit offset (negative values mean beyond 2^63)
     * @param length unsigned length; 32-bit in compact mode, 64-bit (negative = huge) in extended
     */
    record Request(int flags, int type, long cookie, long offset, long length) {}

    private final boolean extended;
    private final ByteBuffer header;

    RequestDecoder(boolean extended) {
        this.extended = extended;
        this.header = ByteBuffer.allocate(extended ? 32 : 28);
    }

    boolean extended() {
        return extended;
    }

    /**
     * Consumes header bytes of {@code in}; returns the request once all of its header arrived.
     *
     * @throws ProtocolException on a bad magic (the stream cannot be resynchronised)
     */
    Request decode(ByteBuffer in) throws ProtocolException {
        OptionDecoder.transfer(in, header);
        if (header.hasRemaining()) {
            return null;
        }
        header.flip();
        int magic = header.getInt();
        int expected = extended ? Wire.EXTENDED_REQUEST_MAGIC : Wire.REQUEST_MAGIC;
        if (magic != expected) {
            header.clear();
            throw new ProtocolException(String.format("request magic 0x%08x, expected 0x%08x (%s headers)",
                    magic, expected, extended ? "extended" : "compact"));
        }
        int flags = Short.toUnsignedInt(header.getShort());
        int type = Short.toUnsignedInt(header.getShort());
        long cookie = header.getLong();
        long offset = header.getLong();
        long length = extended ? header.getLong() : Integer.toUnsignedLong(header.getInt());
        header.clear();
        return new Request(flags, type, cookie, offset, length);
    }

    /** Whether no partial header is buffered. */
    boolean idle() {
        return header.position() == 0;
    }
}

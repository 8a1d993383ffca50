package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Encodes transmission replies in one of three negotiated styles: simple replies (16 bytes),
 * structured reply chunks (20-byte header) or extended reply chunks (32-byte header, after
 * {@code NBD_OPT_EXTENDED_HEADERS}). Returned buffers are ready to write (position 0). Stateless
 * apart from the style; thread-safe.
 */
final class ReplyEncoder {

    /** Which reply headers the client negotiated. */
    enum Style { SIMPLE, STRUCTURED, EXTENDED }

    /** One {@code base:allocation} descriptor. */
    record Descriptor(long length, int status) {}

    private final Style style;

    ReplyEncoder(Style style) {
        this.style = style;
    }

    Style style() {
        return style;
    }

    /** Size of a chunk header in this style. */
    int chunkHeaderSize() {
        return style == Style.EXTENDED ? 32 : 20;
    }

    /** A simple reply (only valid in {@link Style#SIMPLE}, or for payload-free structured replies). */
    static ByteBuffer simple(long cookie, int error) {
        return ByteBuffer.allocate(16).putInt(Wire.SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
    }

    /**
     * The reply for a successful request without payload: a simple reply in SIMPLE and STRUCTURED
     * style (allowed by the spec), a NONE chunk with DONE in EXTENDED style (simple replies are
     * not allowed there).
     */
    ByteBuffer ok(long cookie, long requestOffset) {
        return style == Style.EXTENDED
                ? chunk(Wire.REPLY_FLAG_DONE, Wire.REPLY_TYPE_NONE, cookie, requestOffset, 0).flip()
                : simple(cookie, 0);
    }

    /** A final NONE chunk. */
    ByteBuffer done(long cookie, long requestOffset) {
        return chunk(Wire.REPLY_FLAG_DONE, Wire.REPLY_TYPE_NONE, cookie, requestOffset, 0).flip();
    }

    /**
     * An error reply: a simple reply in SIMPLE style, else an {@code NBD_REPLY_TYPE_ERROR} chunk
     * with DONE carrying {@code message}.
     */
    ByteBuffer error(long cookie, long requestOffset, int errno, String message) {
        if (style == Style.SIMPLE) {
            return simple(cookie, errno);
        }
        byte[] m = message == null ? new byte[0] : message.getBytes(StandardCharsets.UTF_8);
        int len = Math.min(m.length, Wire.MAX_STRING);
        ByteBuffer out = chunk(Wire.REPLY_FLAG_DONE, Wire.REPLY_TYPE_ERROR, cookie, requestOffset, 6 + len);
        out.putInt(errno).putShort((short) len).put(m, 0, len);
        return out.flip();
    }

    /** Header of an OFFSET_DATA chunk (chunk header + 8-byte offset); the data follows it. */
    ByteBuffer offsetDataHeader(int flags, long cookie, long requestOffset, long dataOffset, int dataLength) {
        ByteBuffer out = chunk(flags, Wire.REPLY_TYPE_OFFSET_DATA, cookie, requestOffset, 8L + dataLength);
        out.putLong(dataOffset);
        return out.flip();
    }

    /** An OFFSET_HOLE chunk. */
    ByteBuffer offsetHole(int flags, long cookie, long requestOffset, long holeOffset, int holeLength) {
        ByteBuffer out = chunk(flags, Wire.REPLY_TYPE_OFFSET_HOLE, cookie, requestOffset, 12);
        out.putLong(holeOffset).putInt(holeLength);
        return out.flip();
    }

    /**
     * A block status chunk for one context: {@code NBD_REPLY_TYPE_BLOCK_STATUS} (32-bit lengths)
     * or, in EXTENDED style, {@code NBD_REPLY_TYPE_BLOCK_STATUS_EXT} (count + 64-bit lengths and
     * status).
     */
    ByteBuffer blockStatus(int flags, long cookie, long requestOffset, int contextId, List<Descriptor> descriptors) {
        if (style == Style.EXTENDED) {
            ByteBuffer out = chunk(flags, Wire.REPLY_TYPE_BLOCK_STATUS_EXT, cookie, requestOffset,
                    8L + 16L * descriptors.size());
            out.putInt(contextId).putInt(descriptors.size());
            for (Descriptor d : descriptors) {
                out.putLong(d.length()).putLong(Integer.toUnsignedLong(d.status()));
            }
            return out.flip();
        }
        ByteBuffer out = chunk(flags, Wire.REPLY_TYPE_BLOCK_STATUS, cookie, requestOffset, 4L + 8L * descriptors.size());
        out.putInt(contextId);
        for (Descriptor d : descriptors) {
            out.putInt((int) d.length()).putInt(d.status());
        }
        return out.flip();
    }

    /**
     * A chunk header followed by room for {@code payloadLength} bytes if they are small; the
     * buffer is left positioned after the header.
     */
    private ByteBuffer chunk(int flags, int type, long cookie, long requestOffset, long payloadLength) {
        if (style == Style.SIMPLE) {
            throw new IllegalStateException("structured chunk requested but structured replies were not negotiated");
        }
        int room = type == Wire.REPLY_TYPE_OFFSET_DATA ? 8 : (int) payloadLength;
        ByteBuffer out = ByteBuffer.allocate(chunkHeaderSize() + room);
        if (style == Style.EXTENDED) {
            out.putInt(Wire.EXTENDED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                    .putLong(requestOffset).putLong(payloadLength);
        } else {
            out.putInt(Wire.STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                    .putInt((int) payloadLength);
        }
        return out;
    }
}

package dev.volumes.nbd;

import java.nio.ByteBuffer;

/**
 * Decodes what a client sends during the handshake: first its 32-bit flags, then a sequence of
 * options ({@code IHAVEOPT}, 32-bit option, 32-bit length, data).
 *
 * <p>A small state machine over {@link ByteBuffer}: {@link #decode} consumes as many bytes as it
 * can and returns a message once one is complete, or {@code null} when it needs more input, so it
 * works the same fed a whole message or one byte at a time. Option data longer than
 * {@link Wire#MAX_OPTION_LENGTH} is never allocated: it is skipped and reported as
 * {@link Oversized} so the server can answer {@code NBD_REP_ERR_TOO_BIG} and stay in sync. Not
 * thread-safe: one decoder per connection.
 */
final class OptionDecoder {

    /** Something the client sent during the handshake. */
    sealed interface Message permits ClientFlags, RawOption, Oversized {}

    /** The client's flags, the first thing it sends. */
    record ClientFlags(int flags) implements Message {}

    /** One option with its (bounded) data. */
    record RawOption(int option, byte[] data) implements Message {}

    /** An option whose data exceeded the cap and was skipped unread. */
    record Oversized(int option, long length) implements Message {}

    private enum State { CLIENT_FLAGS, HEADER, DATA, SKIP }

    private final int maxLength;
    private State state = State.CLIENT_FLAGS;
    private final ByteBuffer header = ByteBuffer.allocate(16);
    private int option;
    private long length;
    private ByteBuffer data;
    private long toSkip;

    OptionDecoder() {
        this(Wire.MAX_OPTION_LENGTH);
    }

    OptionDecoder(int maxLength) {
        if (maxLength < 0) {
            throw new IllegalArgumentException("negative option cap " + maxLength);
        }
        this.maxLength = maxLength;
    }

    /**
     * Consumes bytes of {@code in} and returns the next complete message, or {@code null} when
     * {@code in} ran out first (call again with more bytes).
     *
     * @throws ProtocolException if an option does not start with {@code IHAVEOPT}
     */
    Message decode(ByteBuffer in) throws ProtocolException {
        while (true) {
            switch (state) {
                case CLIENT_FLAGS -> {
                    if (!fill(in, 4)) {
                        return null;
                    }
                    header.flip();
                    int flags = header.getInt();
                    header.clear();
                    state = State.HEADER;
                    return new ClientFlags(flags);
                }
                case HEADER -> {
                    if (!fill(in, 16)) {
                        return null;
                    }
                    header.flip();
                    long magic = header.getLong();
                    option = header.getInt();
                    length = Integer.toUnsignedLong(header.getInt());
                    header.clear();
                    if (magic != Wire.IHAVEOPT) {
                        throw new ProtocolException(String.format(
                                "option header has magic 0x%016x, expected IHAVEOPT 0x%016x", magic, Wire.IHAVEOPT));
                    }
                    if (length > maxLength) {
                        toSkip = length;
                        state = State.SKIP;
                    } else {
                        data = ByteBuffer.allocate((int) length);
                        state = State.DATA;
                    }
                }
                case DATA -> {
                    transfer(in, data);
                    if (data.hasRemaining()) {
                        return null;
                    }
                    byte[] bytes = data.array();
                    data = null;
                    state = State.HEADER;
                    return new RawOption(option, bytes);
                }
                case SKIP -> {
                    int n = (int) Math.min(toSkip, in.remaining());
                    in.position(in.position() + n);
                    toSkip -= n;
                    if (toSkip > 0) {
                        return null;
                    }
                    state = State.HEADER;
                    return new Oversized(option, length);
                }
            }
        }
    }

    /** Whether the decoder sits between messages with no partial input buffered. */
    boolean idle() {
        return (state == State.HEADER || state == State.CLIENT_FLAGS) && header.position() == 0;
    }

    private boolean fill(ByteBuffer in, int want) {
        while (header.position() < want && in.hasRemaining()) {
            header.put(in.get());
        }
        return header.position() == want;
    }

    static void transfer(ByteBuffer in, ByteBuffer out) {
        int n = Math.min(in.remaining(), out.remaining());
        if (n == 0) {
            return;
        }
        ByteBuffer slice = in.slice(in.position(), n);
        out.put(slice);
        in.position(in.position() + n);
    }
}

package dev.volumes.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Exact-length reads from a {@link Transport} for the client: big-endian integers through a small
 * buffer, bulk data (READ payloads) straight into the caller's buffer once the buffered bytes are
 * used up. End of stream in the middle of anything is an {@link EOFException}. One reader thread
 * only; not thread-safe.
 */
final class WireInput {

    private final Transport transport;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024).flip(); // direct: no JDK bounce copy

    WireInput(Transport transport) {
        this.transport = transport;
    }

    private void need(int n) throws IOException {
        if (buffer.remaining() >= n) {
            return;
        }
        buffer.compact();
        try {
            while (buffer.position() < n) {
                if (transport.read(buffer) < 0) {
                    throw new EOFException("connection closed by " + transport.peer());
                }
            }
        } finally {
            buffer.flip();
        }
    }

    int readInt() throws IOException {
        need(4);
        return buffer.getInt();
    }

    int readUnsignedShort() throws IOException {
        need(2);
        return Short.toUnsignedInt(buffer.getShort());
    }

    long readLong() throws IOException {
        need(8);
        return buffer.getLong();
    }

    /** Fills {@code dst} completely. */
    void readFully(ByteBuffer dst) throws IOException {
        if (buffer.hasRemaining()) {
            int n = Math.min(buffer.remaining(), dst.remaining());
            dst.put(buffer.slice(buffer.position(), n));
            buffer.position(buffer.position() + n);
        }
        if (!transport.readFully(dst)) {
            throw new EOFException("connection closed by " + transport.peer());
        }
    }

    /** Reads {@code n} bytes into a new array (n is bounded by the caller). */
    byte[] readBytes(int n) throws IOException {
        byte[] out = new byte[n];
        readFully(ByteBuffer.wrap(out));
        return out;
    }

    /** Reads and drops {@code n} bytes. */
    void skip(long n) throws IOException {
        while (n > 0) {
            need(1);
            int k = (int) Math.min(n, buffer.remaining());
            buffer.position(buffer.position() + k);
            n -= k;
        }
    }

    /** Whether no byte is buffered (true before STARTTLS, where leftover bytes would be a violation). */
    boolean drained() {
        return !buffer.hasRemaining();
    }
}

package dev.volumes.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A connected byte stream to one client: a plain socket channel (TCP or Unix) or a TLS session
 * over TCP. One thread reads while others write; writers must be serialised by the caller (the
 * connection's write lock).
 */
interface Transport extends Closeable {

    /** Reads at least one byte into {@code dst} (blocking); returns -1 at end of stream. */
    int read(ByteBuffer dst) throws IOException;

    /**
     * Reads until {@code dst} is full (blocking), for large payloads.
     *
     * @return false if the stream ended first
     */
    default boolean readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            if (read(dst) < 0) {
                return false;
            }
        }
        return true;
    }

    /** Writes every remaining byte of {@code buffers}, in order (blocking). */
    void write(ByteBuffer... buffers) throws IOException;

    /** Whether {@link #startTls} can work on this transport. */
    boolean canStartTls();

    /**
     * Runs a server-side TLS handshake over this transport and returns the encrypted transport.
     * This transport must not be used afterwards except to close it.
     */
    Transport startTls(NbdTls tls) throws IOException;

    /** Stops reading: a blocked {@link #read} returns -1 (used by graceful shutdown). */
    void shutdownInput();

    /** Whether this transport is encrypted. */
    boolean secure();

    /** The client's socket address (TCP or Unix domain); null if the socket could not say. */
    java.net.SocketAddress remoteAddress();

    /** The principal of the client's verified TLS certificate; empty without TLS or client certificate. */
    default java.util.Optional<java.security.Principal> tlsPeer() {
        return java.util.Optional.empty();
    }

    /** A short description of the peer for messages. */
    String peer();

    /** Closes the connection (TLS close_notify first when encrypted); idempotent, never throws. */
    @Override
    void close();
}

package dev.volumes.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CountDownLatch;

/** A {@link Transport} that replays fixed bytes as the peer's output and discards what is written. */
final class BytesTransport implements Transport {

    private final ByteBuffer input;
    private final CountDownLatch go;
    private volatile boolean closed;

    /** Reads block until {@code go} opens (null = at once). */
    BytesTransport(byte[] input, CountDownLatch go) {
        this.input = ByteBuffer.wrap(input);
        this.go = go;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (go != null) {
            try {
                go.await();
            } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
            }
        }
        synchronized (this) {
            if (closed) {
                throw new IOException("closed");
            }
            if (!input.hasRemaining()) {
                return -1;
            }
            int n = Math.min(dst.remaining(), Math.min(input.remaining(), 7)); // uneven pieces
            dst.put(input.slice(input.position(), n));
            input.position(input.position() + n);
            return n;
        }
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        if (closed) {
            throw new IOException("closed");
        }
        for (ByteBuffer b : buffers) {
            b.position(b.limit());
        }
    }

    @Override
    public boolean canStartTls() {
        return false;
    }

    @Override
    public Transport startTls(NbdTls tls) throws IOException {
        throw new IOException("no TLS");
    }

    @Override
    public void shutdownInput() {
        closed = true;
    }

    @Override
    public boolean secure() {
        return false;
    }

    @Override
    public String peer() {
        return "bytes";
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public java.net.SocketAddress remoteAddress() {
        return null;
    }
}

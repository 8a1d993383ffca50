package dev.volumes.nbd;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLSocket;

/** A {@link Transport} over an established server-side {@link SSLSocket}. */
final class TlsTransport implements Transport {

    private static final int COALESCE = 16 * 1024;

    private final SSLSocket socket;
    private final SocketChannel raw;
    private final InputStream in;
    private final OutputStream out;
    private final String peer;
    private final java.net.SocketAddress remote;

    TlsTransport(SSLSocket socket, SocketChannel raw, String peer, java.net.SocketAddress remote) throws IOException {
        this.remote = remote;
        this.socket = socket;
        this.raw = raw;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
        this.peer = peer + " (TLS)";
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (dst.hasArray()) {
            int n = in.read(dst.array(), dst.arrayOffset() + dst.position(), dst.remaining());
            if (n > 0) {
                dst.position(dst.position() + n);
            }
            return n;
        }
        byte[] tmp = new byte[Math.min(dst.remaining(), 64 * 1024)];
        int n = in.read(tmp);
        if (n > 0) {
            dst.put(tmp, 0, n);
        }
        return n;
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        // Small pieces (headers) are coalesced so that one reply is one TLS record where possible.
        long total = 0;
        for (ByteBuffer b : buffers) {
            total += b.remaining();
        }
        if (total <= COALESCE && buffers.length > 1) {
            byte[] joined = new byte[(int) total];
            int at = 0;
            for (ByteBuffer b : buffers) {
                int n = b.remaining();
                b.get(joined, at, n);
                at += n;
            }
            out.write(joined);
        } else {
            for (ByteBuffer b : buffers) {
                if (b.hasArray()) {
                    out.write(b.array(), b.arrayOffset() + b.position(), b.remaining());
                    b.position(b.limit());
                } else {
                    byte[] copy = new byte[Math.min(b.remaining(), 64 * 1024)];
                    while (b.hasRemaining()) {
                        int n = Math.min(copy.length, b.remaining());
                        b.get(copy, 0, n);
                        out.write(copy, 0, n);
                    }
                }
            }
        }
        out.flush();
    }

    @Override
    public boolean canStartTls() {
        return false;
    }

    @Override
    public Transport startTls(NbdTls tls) throws IOException {
        throw new IOException("TLS is already active");
    }

    @Override
    public void shutdownInput() {
        try {
            // Closing the read side of the TCP socket underneath makes a blocked TLS read see end
            // of stream (or fail), which the connection treats as the end of requests.
            raw.shutdownInput();
        } catch (IOException e) {
            close();
        }
    }

    @Override
    public boolean secure() {
        return true;
    }

    @Override
    public java.net.SocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public java.util.Optional<java.security.Principal> tlsPeer() {
        try {
            return java.util.Optional.of(socket.getSession().getPeerPrincipal());
        } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            return java.util.Optional.empty();
        }
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing useful to do
        }
    }
}

package dev.volumes.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * A client-side TLS {@link Transport} driven by an {@link SSLEngine} over a blocking
 * {@link SocketChannel}: used where the JDK cannot layer an {@code SSLSocket} (Unix domain
 * sockets have no {@code Socket} adapter).
 *
 * <p>Design: one reader thread calls {@link #read} (unwrap under {@code readLock}); writers are
 * serialised by the caller, and {@code writeLock} also covers the records the reader must send
 * itself (a TLS 1.3 KeyUpdate answer). SSLEngine allows wrap and unwrap to run concurrently.
 */
final class EngineTlsTransport implements Transport {

    private final SocketChannel channel;
    private final SSLEngine engine;
    private final String peer;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    private ByteBuffer netIn; // ciphertext from the socket, in read mode
    private ByteBuffer appIn; // plaintext not yet handed out, in read mode
    private ByteBuffer netOut;

    private EngineTlsTransport(SocketChannel channel, SSLEngine engine, String peer) {
        this.channel = channel;
        this.engine = engine;
        this.peer = peer + " (TLS)";
        int packet = engine.getSession().getPacketBufferSize();
        this.netIn = ByteBuffer.allocate(packet).flip();
        this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize()).flip();
        this.netOut = ByteBuffer.allocate(packet);
    }

    /** Runs the client handshake on {@code channel} and returns the encrypted transport. */
    static EngineTlsTransport handshake(SocketChannel channel, SSLEngine engine, String peer) throws IOException {
        EngineTlsTransport t = new EngineTlsTransport(channel, engine, peer);
        engine.setUseClientMode(true);
        engine.beginHandshake();
        ByteBuffer empty = ByteBuffer.allocate(0);
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> t.wrap(empty);
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    if (t.unwrapSome() < 0) {
                        throw new EOFException("connection closed during the TLS handshake with " + peer);
                    }
                }
                case NEED_TASK -> {
                    Runnable task;
                    while ((task = engine.getDelegatedTask()) != null) {
                        task.run();
                    }
                }
                case FINISHED, NOT_HANDSHAKING -> {
                    return t;
                }
            }
        }
    }

    /** Unwraps at least one record (reading from the socket if needed); -1 at end of stream. */
    private int unwrapSome() throws IOException {
        while (true) {
            appIn.compact();
            SSLEngineResult r;
            try {
                r = engine.unwrap(netIn, appIn);
            } finally {
                appIn.flip();
            }
            switch (r.getStatus()) {
                case OK -> {
                    if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                        Runnable task;
                        while ((task = engine.getDelegatedTask()) != null) {
                            task.run();
                        }
                    }
                    if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP
                            && !engine.isOutboundDone()) {
                        wrap(ByteBuffer.allocate(0)); // e.g. answer a KeyUpdate
                    }
                    return r.bytesProduced();
                }
                case BUFFER_UNDERFLOW -> {
                    if (netIn.limit() == netIn.capacity() && netIn.position() == 0) {
                        ByteBuffer bigger = ByteBuffer.allocate(netIn.capacity() * 2);
                        bigger.put(netIn).flip();
                        netIn = bigger;
                    }
                    netIn.compact();
                    int n;
                    try {
                        n = channel.read(netIn);
                    } finally {
                        netIn.flip();
                    }
                    if (n < 0) {
                        return -1;
                    }
                }
                case BUFFER_OVERFLOW -> {
                    ByteBuffer bigger = ByteBuffer.allocate(appIn.capacity() * 2);
                    bigger.put(appIn).flip();
                    appIn = bigger;
                }
                case CLOSED -> {
                    return -1;
                }
            }
        }
    }

    private void wrap(ByteBuffer src) throws IOException {
        writeLock.lock();
        try {
            do {
                netOut.clear();
                SSLEngineResult r = engine.wrap(src, netOut);
                if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                    netOut = ByteBuffer.allocate(netOut.capacity() * 2);
                    continue;
                }
                if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                    throw new SSLException("TLS session with " + peer + " is closed");
                }
                netOut.flip();
                while (netOut.hasRemaining()) {
                    channel.write(netOut);
                }
                if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                    Runnable task;
                    while ((task = engine.getDelegatedTask()) != null) {
                        task.run();
                    }
                }
            } while (src.hasRemaining());
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        readLock.lock();
        try {
            while (!appIn.hasRemaining()) {
                if (unwrapSome() < 0 && !appIn.hasRemaining()) {
                    return -1;
                }
            }
            int n = Math.min(dst.remaining(), appIn.remaining());
            dst.put(appIn.slice(appIn.position(), n));
            appIn.position(appIn.position() + n);
            return n;
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        for (ByteBuffer b : buffers) {
            if (b.hasRemaining()) {
                wrap(b);
            }
        }
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
            channel.shutdownInput();
        } catch (IOException e) {
            close();
        }
    }

    @Override
    public boolean secure() {
        return true;
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing useful to do
        }
    }

    @Override
    public java.net.SocketAddress remoteAddress() {
        try {
            return channel.getRemoteAddress();
        } catch (IOException e) {
            return null;
        }
    }
}

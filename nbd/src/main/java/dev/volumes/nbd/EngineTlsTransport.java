package dev.volumes.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.security.Principal;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * A TLS {@link Transport} driven by an {@link SSLEngine} over a blocking {@link SocketChannel},
 * for either side (the server's STARTTLS and the client's {@code nbds+unix}); used for Unix
 * domain sockets, where the JDK offers no {@code SSLSocket} (it needs a {@code java.net.Socket}).
 *
 * <p>Design: one reader thread calls {@link #read} (unwrap side: {@link #netIn} → {@link #appIn});
 * writers are serialised by the caller and additionally by {@link #writeLock}, which also guards
 * every wrap + channel write, because the reader may have to wrap (TLS 1.3 post-handshake
 * messages, key updates, close_notify) while a worker writes. SSLEngine allows one wrap and one
 * unwrap concurrently. Buffers are sized from the session's packet and application sizes.
 */
final class EngineTlsTransport implements Transport {

    private final SocketChannel channel;
    private final SSLEngine engine;
    private final String peer;
    private final SocketAddress remote;
    private final ReentrantLock writeLock = new ReentrantLock();
    /** Received ciphertext not yet unwrapped, in read mode. */
    private ByteBuffer netIn;
    /** Decrypted bytes not yet handed to the reader, in read mode. */
    private ByteBuffer appIn;
    /** Ciphertext to send; used only under {@link #writeLock}. */
    private ByteBuffer netOut;
    private volatile boolean closed;

    private EngineTlsTransport(SocketChannel channel, SSLEngine engine, String peer, SocketAddress remote) {
        this.channel = channel;
        this.engine = engine;
        this.peer = peer + " (TLS)";
        this.remote = remote;
        int packet = engine.getSession().getPacketBufferSize();
        this.netIn = ByteBuffer.allocate(packet).flip();
        this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize()).flip();
        this.netOut = ByteBuffer.allocate(packet);
    }

    /** Runs the server handshake on {@code channel}; on failure the caller closes the channel. */
    static EngineTlsTransport handshake(SocketChannel channel, NbdTls tls, String peer, SocketAddress remote)
            throws IOException {
        SSLEngine engine = tls.context().createSSLEngine();
        engine.setUseClientMode(false);
        tls.configure(engine);
        return handshake(channel, engine, peer, remote);
    }

    /**
     * Runs the handshake of an already configured {@code engine} (client or server mode) on
     * {@code channel}; on failure the caller closes the channel.
     */
    static EngineTlsTransport handshake(SocketChannel channel, SSLEngine engine, String peer, SocketAddress remote)
            throws IOException {
        EngineTlsTransport t = new EngineTlsTransport(channel, engine, peer, remote);
        engine.beginHandshake();
        t.finishHandshake();
        return t;
    }

    private void finishHandshake() throws IOException {
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> {
                    writeLock.lock();
                    try {
                        wrap(new ByteBuffer[] {ByteBuffer.allocate(0)});
                    } finally {
                        writeLock.unlock();
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    if (unwrapOnce() < 0) {
                        throw new EOFException("client closed the connection during the TLS handshake");
                    }
                }
                case NEED_TASK -> {
                    Runnable task;
                    while ((task = engine.getDelegatedTask()) != null) {
                        task.run();
                    }
                }
                case FINISHED, NOT_HANDSHAKING -> {
                    return;
                }
            }
        }
    }

    /**
     * One unwrap step: unwraps what {@link #netIn} holds, reading from the channel on underflow.
     * Returns the bytes produced into {@link #appIn} (possibly 0), or -1 at end of stream or
     * after the client's close_notify.
     */
    private int unwrapOnce() throws IOException {
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
                    return r.bytesProduced();
                }
                case CLOSED -> {
                    return -1;
                }
                case BUFFER_OVERFLOW -> appIn = grow(appIn, engine.getSession().getApplicationBufferSize());
                case BUFFER_UNDERFLOW -> {
                    int packet = engine.getSession().getPacketBufferSize();
                    if (netIn.capacity() < packet) {
                        netIn = grow(netIn, packet);
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
            }
        }
    }

    private static ByteBuffer grow(ByteBuffer b, int atLeast) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(atLeast, b.capacity() * 2));
        bigger.put(b).flip();
        return bigger;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        while (!appIn.hasRemaining()) {
            int n = unwrapOnce();
            if (n < 0) {
                return -1;
            }
            handleAfterUnwrap();
        }
        int n = Math.min(dst.remaining(), appIn.remaining());
        dst.put(appIn.slice(appIn.position(), n));
        appIn.position(appIn.position() + n);
        return n;
    }

    /** Post-handshake work an unwrap may ask for (tasks, or a wrap such as a key-update answer). */
    private void handleAfterUnwrap() throws IOException {
        SSLEngineResult.HandshakeStatus hs = engine.getHandshakeStatus();
        if (hs == SSLEngineResult.HandshakeStatus.NEED_TASK || hs == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
            finishHandshake();
        }
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        writeLock.lock();
        try {
            wrap(buffers);
        } finally {
            writeLock.unlock();
        }
    }

    /** Wraps every remaining byte of {@code src} (at least one record) and writes the ciphertext; under {@link #writeLock}. */
    private void wrap(ByteBuffer[] src) throws IOException {
        do {
            netOut.clear();
            SSLEngineResult r = engine.wrap(src, netOut);
            switch (r.getStatus()) {
                case OK -> { }
                case BUFFER_OVERFLOW -> {
                    netOut = ByteBuffer.allocate(Math.max(netOut.capacity() * 2, engine.getSession().getPacketBufferSize()));
                    continue;
                }
                case CLOSED -> {
                    if (r.bytesProduced() == 0) {
                        throw new SSLException("TLS session is closed");
                    }
                }
                case BUFFER_UNDERFLOW -> throw new SSLException("unexpected TLS wrap underflow");
            }
            netOut.flip();
            while (netOut.hasRemaining()) {
                channel.write(netOut);
            }
            if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                return;
            }
        } while (remaining(src) > 0 || engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP);
    }

    private static long remaining(ByteBuffer[] src) {
        long n = 0;
        for (ByteBuffer b : src) {
            n += b.remaining();
        }
        return n;
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
    public SocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public Optional<Principal> tlsPeer() {
        try {
            return Optional.of(engine.getSession().getPeerPrincipal());
        } catch (SSLPeerUnverifiedException e) {
            return Optional.empty();
        }
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // close_notify, best effort and without waiting behind a writer stuck on a dead client
        if (writeLock.tryLock()) {
            try {
                engine.closeOutbound();
                wrap(new ByteBuffer[] {ByteBuffer.allocate(0)});
            } catch (IOException | RuntimeException ignored) {
                // closing anyway
            } finally {
                writeLock.unlock();
            }
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing useful to do
        }
    }
}

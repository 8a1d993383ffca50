package dev.volumes.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLSocket;

/** A plaintext {@link Transport} over a blocking {@link SocketChannel} (TCP or Unix domain). */
final class ChannelTransport implements Transport {

    private final SocketChannel channel;
    private final String peer;
    private final java.net.SocketAddress remote;
    /** Raised while a large payload is read (see {@link ReceiveLowWater}); null where unavailable. */
    private final ReceiveLowWater lowWater;

    ChannelTransport(SocketChannel channel) {
        this.channel = channel;
        this.lowWater = isTcp(channel) ? ReceiveLowWater.of(channel) : null;
        java.net.SocketAddress r;
        try {
            r = channel.getRemoteAddress();
        } catch (IOException e) {
            r = null;
        }
        this.remote = r;
        this.peer = r == null ? "?" : String.valueOf(r);
    }

    /**
     * Largest slice handed to one channel call: the JDK copies heap buffers through a temporary
     * direct buffer of the slice's size, so this bounds native memory per I/O.
     */
    static final int SLICE = 1 << 20;

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (dst.isDirect() || dst.remaining() <= SLICE) {
            return channel.read(dst);
        }
        ByteBuffer part = dst.slice(dst.position(), SLICE);
        int n = channel.read(part);
        if (n > 0) {
            dst.position(dst.position() + n);
        }
        return n;
    }

    /** Payloads at least this large are read with a raised receive low-water mark. */
    static final int LOW_WATER_MIN = 256 * 1024;
    /** The highest mark set (the kernel caps it at half its largest receive buffer anyway). */
    static final int LOW_WATER_MAX = 4 << 20;

    /**
     * Reads a payload. After every short read of a large one the low-water mark is set to the
     * bytes still missing (capped at {@link #LOW_WATER_MAX}), so the next wait ends when they have
     * all arrived rather than at the next packet, and the mark never exceeds what the peer still
     * owes; it goes back to 1 when the payload is complete or the read fails.
     */
    @Override
    public boolean readFully(ByteBuffer dst) throws IOException {
        if (lowWater == null || dst.remaining() < LOW_WATER_MIN) {
            return Transport.super.readFully(dst);
        }
        try {
            while (dst.hasRemaining()) {
                if (read(dst) < 0) {
                    return false;
                }
                if (dst.hasRemaining()) {
                    lowWater.set(Math.min(dst.remaining(), LOW_WATER_MAX)); // no call when unchanged
                }
            }
            return true;
        } finally {
            lowWater.set(1);
        }
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        long total = 0;
        for (ByteBuffer b : buffers) {
            total += b.remaining();
        }
        boolean heap = false;
        for (ByteBuffer b : buffers) {
            heap |= !b.isDirect() && b.remaining() > SLICE;
        }
        if (!heap) {
            long left = total;
            while (left > 0) {
                left -= channel.write(buffers); // one gathering write for header + small payload
            }
            return;
        }
        for (ByteBuffer b : buffers) {
            while (b.hasRemaining()) {
                ByteBuffer part = b.slice(b.position(), Math.min(SLICE, b.remaining()));
                while (part.hasRemaining()) {
                    channel.write(part);
                }
                b.position(b.position() + part.capacity());
            }
        }
    }

    @Override
    public boolean canStartTls() {
        return channel.isOpen();
    }

    private boolean isTcp() {
        return isTcp(channel);
    }

    private static boolean isTcp(SocketChannel channel) {
        try {
            return channel.getLocalAddress() instanceof InetSocketAddress;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public Transport startTls(NbdTls tls) throws IOException {
        if (!isTcp()) { // Unix domain socket: no java.net.Socket to layer an SSLSocket on
            return EngineTlsTransport.handshake(channel, tls, peer, remote);
        }
        InetSocketAddress remote = (InetSocketAddress) channel.getRemoteAddress();
        SSLSocket ssl = (SSLSocket) tls.context().getSocketFactory()
                .createSocket(channel.socket(), remote.getHostString(), remote.getPort(), true);
        ssl.setUseClientMode(false);
        tls.configure(ssl);
        ssl.startHandshake();
        return new TlsTransport(ssl, channel, peer, remote);
    }

    @Override
    public void shutdownInput() {
        try {
            channel.shutdownInput();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public boolean secure() {
        return false;
    }

    @Override
    public java.net.SocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        try {
            if (lowWater != null) {
                lowWater.close(); // under its lock: no mark is set on a reused descriptor
            } else {
                channel.close();
            }
        } catch (IOException ignored) {
            // nothing useful to do
        }
    }
}

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

    ChannelTransport(SocketChannel channel) {
        this.channel = channel;
        String p;
        try {
            p = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "?";
        }
        this.peer = p;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return channel.read(dst);
    }

    @Override
    public void write(ByteBuffer... buffers) throws IOException {
        long left = 0;
        for (ByteBuffer b : buffers) {
            left += b.remaining();
        }
        while (left > 0) {
            left -= channel.write(buffers);
        }
    }

    @Override
    public boolean canStartTls() {
        return channel.socket() != null && isTcp();
    }

    private boolean isTcp() {
        try {
            return channel.getLocalAddress() instanceof InetSocketAddress;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public Transport startTls(NbdTls tls) throws IOException {
        if (!isTcp()) {
            throw new IOException("TLS is only available on TCP connections");
        }
        InetSocketAddress remote = (InetSocketAddress) channel.getRemoteAddress();
        SSLSocket ssl = (SSLSocket) tls.context().getSocketFactory()
                .createSocket(channel.socket(), remote.getHostString(), remote.getPort(), true);
        ssl.setUseClientMode(false);
        tls.configure(ssl);
        ssl.startHandshake();
        return new TlsTransport(ssl, channel, peer);
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
}

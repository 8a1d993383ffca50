package dev.volumes.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A loopback TCP proxy in front of a server that can cut every connection at once, abruptly and
 * possibly in the middle of a request or reply: a network failure without a server restart.
 */
final class CuttingProxy implements AutoCloseable {

    private final ServerSocketChannel listener;
    private final InetSocketAddress target;
    private final List<SocketChannel> open = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    CuttingProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        this.acceptor = Thread.ofVirtual().start(this::accept);
    }

    int port() throws IOException {
        return ((InetSocketAddress) listener.getLocalAddress()).getPort();
    }

    private void accept() {
        try {
            while (true) {
                SocketChannel client = listener.accept();
                SocketChannel server = SocketChannel.open(target);
                client.setOption(StandardSocketOptions.TCP_NODELAY, true);
                server.setOption(StandardSocketOptions.TCP_NODELAY, true);
                open.add(client);
                open.add(server);
                Thread.ofVirtual().start(() -> pump(client, server));
                Thread.ofVirtual().start(() -> pump(server, client));
            }
        } catch (IOException closed) {
            // listener closed
        }
    }

    private void pump(SocketChannel from, SocketChannel to) {
        ByteBuffer b = ByteBuffer.allocateDirect(16 * 1024);
        try {
            while (from.read(b) >= 0) {
                b.flip();
                while (b.hasRemaining()) {
                    to.write(b);
                }
                b.clear();
            }
        } catch (IOException cut) {
            // cut or closed
        }
        close(from);
        close(to);
    }

    /** Closes every proxied connection now (both sides); new connections are accepted as before. */
    void cutAll() {
        for (SocketChannel c : open) {
            close(c);
        }
        open.clear();
    }

    private static void close(SocketChannel c) {
        try {
            c.setOption(StandardSocketOptions.SO_LINGER, 0); // RST, like a dead peer
        } catch (IOException | RuntimeException ignored) {
            // already closed
        }
        try {
            c.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        cutAll();
        acceptor.interrupt();
    }
}

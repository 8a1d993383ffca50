package dev.volumes.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP proxy in front of a server whose connections a test can cut at once, abruptly
 * and possibly in the middle of a request or reply: a network fault without a server restart.
 * New connections keep being accepted after a cut. It can also <em>hold</em> new connections:
 * while held, a connection is accepted but not forwarded (the client waits for the server's
 * greeting, i.e. a reconnect is parked inside its handshake) until {@link #release()}.
 * Thread-safe.
 */
public final class CuttingProxy implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final List<Socket> parked = new CopyOnWriteArrayList<>();
    private final AtomicInteger parkedTotal = new AtomicInteger();
    private volatile boolean holding;
    private volatile boolean closed;

    /** Listens on an ephemeral 127.0.0.1 port and forwards each connection to {@code target}. */
    public CuttingProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::acceptLoop);
    }

    /** The proxy's port on 127.0.0.1. */
    public int port() {
        return server.getLocalPort();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket in = server.accept();
                in.setTcpNoDelay(true);
                synchronized (this) {
                    if (holding) {
                        parked.add(in);
                        parkedTotal.incrementAndGet();
                        continue;
                    }
                }
                forward(in);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void forward(Socket in) throws IOException {
        Socket out = new Socket(target.getAddress(), target.getPort());
        out.setTcpNoDelay(true);
        sockets.add(in);
        sockets.add(out);
        Thread.ofVirtual().start(() -> pump(in, out));
        Thread.ofVirtual().start(() -> pump(out, in));
    }

    /** From now on new connections are parked (not forwarded) until {@link #release()}. */
    public synchronized void hold() {
        holding = true;
    }

    /** Connections parked since the proxy started (released ones included). */
    public int parkedTotal() {
        return parkedTotal.get();
    }

    /** Forwards every parked connection and stops holding. */
    public synchronized void release() throws IOException {
        holding = false;
        for (Socket s : parked) {
            forward(s);
        }
        parked.clear();
    }

    private static void pump(Socket from, Socket to) {
        byte[] buf = new byte[64 << 10];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
            }
        } catch (IOException e) {
            // cut or closed
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    /** Cuts every connection open now (new ones are accepted). */
    public void cutAll() {
        for (Socket s : sockets) {
            closeQuietly(s);
        }
        sockets.clear();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // closing
        }
        cutAll();
        for (Socket s : parked) {
            closeQuietly(s);
        }
        parked.clear();
    }
}

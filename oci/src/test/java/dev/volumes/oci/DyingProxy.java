package dev.volumes.oci;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A TCP proxy in front of a registry that forwards responses slowly (a fixed number of bytes per
 * tick) and, the moment the registry side closes or resets, drops the client side without
 * forwarding what it still holds: a registry that dies while a blob is streaming looks exactly like
 * that to the client.
 */
final class DyingProxy implements AutoCloseable {

    private static final byte[] EOF = new byte[0];

    private final ServerSocket server;
    private final int upstreamPort;
    private final int bytesPerTick;
    private volatile boolean throttled = true;
    private final java.util.concurrent.atomic.AtomicLong forwarded = new java.util.concurrent.atomic.AtomicLong();

    DyingProxy(int upstreamPort, int bytesPerTick) throws IOException {
        this.upstreamPort = upstreamPort;
        this.bytesPerTick = bytesPerTick;
        this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::acceptLoop);
    }

    /** Response bytes forwarded to clients so far. */
    long forwarded() {
        return forwarded.get();
    }

    /** Stops slowing responses down (for the part of a test after the failure). */
    void fullSpeed() {
        throttled = false;
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                Socket upstream;
                try {
                    upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
                } catch (IOException registryDown) {
                    client.close();
                    continue;
                }
                Thread.ofVirtual().start(() -> pump(client, upstream));
                LinkedBlockingQueue<byte[]> queue = new LinkedBlockingQueue<>();
                Thread.ofVirtual().start(() -> {
                    try (InputStream in = upstream.getInputStream()) {
                        byte[] buf = new byte[8192];
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            queue.add(java.util.Arrays.copyOf(buf, n));
                        }
                    } catch (IOException gone) {
                        // registry reset the connection
                    }
                    queue.clear(); // what was not forwarded yet is lost with the registry
                    queue.add(EOF);
                });
                Thread.ofVirtual().start(() -> {
                    try (client; OutputStream out = client.getOutputStream()) {
                        while (true) {
                            byte[] b = queue.poll(10, TimeUnit.SECONDS);
                            if (b == null || b == EOF) {
                                return;
                            }
                            if (!throttled) {
                                out.write(b);
                                continue;
                            }
                            for (int off = 0; off < b.length; off += bytesPerTick) {
                                int n = Math.min(bytesPerTick, b.length - off);
                                out.write(b, off, n);
                                out.flush();
                                forwarded.addAndGet(n);
                                Thread.sleep(1);
                            }
                        }
                    } catch (IOException | InterruptedException ignored) {
                        // client went away
                    }
                });
            } catch (IOException e) {
                return;
            }
        }
    }

    private static void pump(Socket client, Socket upstream) {
        try (InputStream in = client.getInputStream(); OutputStream out = upstream.getOutputStream()) {
            in.transferTo(out);
        } catch (IOException ignored) {
            // either side closed
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}

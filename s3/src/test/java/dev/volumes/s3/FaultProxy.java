package dev.volumes.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small HTTP/1.1 proxy on 127.0.0.1 between the S3 client and s3proxy that injects faults:
 * 500 InternalError, 503 SlowDown, a connection reset before forwarding, a reset after the
 * request was applied upstream (the answer is lost: the ambiguous case), latency, and hangs longer
 * than the client's request timeout. The client signs for the proxy's Host, which is forwarded
 * unchanged, so s3proxy still verifies every signature. Faults are drawn from a seeded Random.
 */
final class FaultProxy implements AutoCloseable {

    enum Fault { NONE, ERROR_500, SLOWDOWN_503, RESET_BEFORE, RESET_AFTER, DELAY, HANG }

    private final ServerSocket server;
    private final int upstreamPort;
    private final Random random;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<Fault, AtomicLong> counts = new EnumMap<>(Fault.class);
    volatile double faultRate;
    volatile boolean failEverything;
    volatile long hangMillis = 2000;

    FaultProxy(int upstreamPort, long seed, double faultRate) throws IOException {
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.upstreamPort = upstreamPort;
        this.random = new Random(seed);
        this.faultRate = faultRate;
        for (Fault f : Fault.values()) {
            counts.put(f, new AtomicLong());
        }
        executor.execute(this::acceptLoop);
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    long count(Fault f) {
        return counts.get(f).get();
    }

    String summary() {
        return counts.toString();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                executor.execute(() -> serve(s));
            } catch (IOException e) {
                return;
            }
        }
    }

    private Fault draw() {
        synchronized (random) {
            if (failEverything) {
                Fault[] bad = {Fault.ERROR_500, Fault.SLOWDOWN_503, Fault.RESET_BEFORE};
                return bad[random.nextInt(bad.length)];
            }
            if (random.nextDouble() >= faultRate) {
                return Fault.NONE;
            }
            Fault[] faults = {Fault.ERROR_500, Fault.SLOWDOWN_503, Fault.RESET_BEFORE, Fault.RESET_AFTER, Fault.DELAY,
                Fault.DELAY, Fault.HANG};
            return faults[random.nextInt(faults.length)];
        }
    }

    private void serve(Socket client) {
        try (client) {
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            while (true) {
                byte[] head = readHead(in);
                if (head == null) {
                    return;
                }
                String headText = new String(head, StandardCharsets.ISO_8859_1);
                int length = 0;
                for (String line : headText.split("\r\n")) {
                    if (line.toLowerCase().startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).strip());
                    }
                }
                byte[] body = in.readNBytes(length);
                Fault f = draw();
                counts.get(f).incrementAndGet();
                switch (f) {
                    case ERROR_500 -> respond(out, 500, "Internal Server Error", "InternalError");
                    case SLOWDOWN_503 -> respond(out, 503, "Slow Down", "SlowDown");
                    case RESET_BEFORE -> {
                        reset(client);
                        return;
                    }
                    case HANG -> {
                        Thread.sleep(hangMillis);
                        reset(client);
                        return;
                    }
                    case RESET_AFTER -> {
                        forward(headText, body);
                        reset(client);
                        return;
                    }
                    case DELAY, NONE -> {
                        if (f == Fault.DELAY) {
                            Thread.sleep(10 + random.nextInt(60));
                        }
                        out.write(forward(headText, body));
                        out.flush();
                        return; // upstream answered with Connection: close
                    }
                }
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            // the client went away; nothing to do
        }
    }

    private static void respond(OutputStream out, int status, String reason, String code) throws IOException {
        byte[] xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>injected by "
                + "FaultProxy</Message><RequestId>fault</RequestId></Error>").getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/xml\r\nContent-Length: "
                + xml.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(xml);
        out.flush();
    }

    private static void reset(Socket s) throws IOException {
        s.setSoLinger(true, 0);
        s.close();
    }

    private byte[] forward(String head, byte[] body) throws IOException {
        StringBuilder rewritten = new StringBuilder();
        for (String line : head.split("\r\n")) {
            if (!line.isEmpty() && !line.toLowerCase().startsWith("connection:")) {
                rewritten.append(line).append("\r\n");
            }
        }
        rewritten.append("Connection: close\r\n\r\n");
        try (Socket up = new Socket(InetAddress.getLoopbackAddress(), upstreamPort)) {
            OutputStream o = up.getOutputStream();
            o.write(rewritten.toString().getBytes(StandardCharsets.ISO_8859_1));
            o.write(body);
            o.flush();
            return up.getInputStream().readAllBytes();
        }
    }

    private static byte[] readHead(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int state = 0;
        while (true) {
            int c = in.read();
            if (c < 0) {
                return null;
            }
            b.write(c);
            state = switch (state) {
                case 0 -> c == '\r' ? 1 : 0;
                case 1 -> c == '\n' ? 2 : c == '\r' ? 1 : 0;
                case 2 -> c == '\r' ? 3 : 0;
                case 3 -> c == '\n' ? 4 : c == '\r' ? 1 : 0;
                default -> 0;
            };
            if (state == 4) {
                return b.toByteArray();
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        executor.shutdownNow();
    }
}

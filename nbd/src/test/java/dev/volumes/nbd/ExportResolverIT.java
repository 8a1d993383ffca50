package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The export resolver seen by libnbd's tools: a resolved name, a refusal message, a disconnect mid-workload. */
class ExportResolverIT {

    private NbdServer server;
    private final AtomicInteger closes = new AtomicInteger();
    private final AtomicInteger resolves = new AtomicInteger();
    private final AtomicInteger writes = new AtomicInteger();
    private final AtomicReference<ClientConnection> connection = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("nbdsh", "python3-libnbd");
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).exportResolver((name, c) -> {
            if (name.startsWith("fenced-")) {
                throw new ExportRefusedException("volume " + name + " is fenced: this node is not the primary");
            }
            if (!name.startsWith("vol-")) {
                return Optional.empty();
            }
            connection.set(c);
            resolves.incrementAndGet();
            Device d = new ForwardingDevice(MemoryDevice.create(name, 16 << 20)) {
                @Override
                public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                    super.write(src, offset, flag);
                    writes.incrementAndGet();
                }

                @Override
                public void write(ByteBuffer src, long offset) throws IOException {
                    write(src, offset, WriteFlag.NONE);
                }
            };
            return Optional.of(new ResolvedExport(name, "resolved for " + c.remoteAddress(), d,
                    closes::incrementAndGet));
        }).build();
        server.addExport("static", MemoryDevice.create(1 << 20), null);
        server.start();
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + server.address().getPort() + "/" + export;
    }

    private void awaitCloses(int n) throws InterruptedException {
        for (int i = 0; i < 1000 && closes.get() < n; i++) {
            Thread.sleep(10);
        }
        assertThat(closes.get()).isEqualTo(n);
    }

    @Test
    void nbdinfoSeesAResolvedExportWithoutMultiConn() throws Exception {
        PeerRun r = PeerRun.of(60, "nbdinfo", "--json", uri("vol-a")).ok();
        assertThat(r.stdout()).contains("\"export-name\": \"vol-a\"").contains("\"export-size\": " + (16 << 20))
                .contains("\"can_multi_conn\": false").contains("\"base:allocation\"")
                .contains("resolved for /127.0.0.1:");
        // libnbd sends OPT_INFO before OPT_GO: each resolution is closed exactly once
        assertThat(resolves.get()).isPositive();
        awaitCloses(resolves.get());
        Thread.sleep(50);
        assertThat(closes.get()).isEqualTo(resolves.get());
        PeerRun s = PeerRun.of(60, "nbdinfo", "--json", uri("static")).ok();
        assertThat(s.stdout()).contains("\"can_multi_conn\": true");
    }

    @Test
    void aRefusalMessageReachesNbdinfo() throws Exception {
        // libnbd 1.14 maps NBD_REP_ERR_POLICY to ENOTSUP and prints the server's text in its debug output
        PeerRun r = PeerRun.of(60, java.util.Map.of("LIBNBD_DEBUG", "1"), java.util.List.of("nbdinfo", uri("fenced-9")));
        assertThat(r.exit()).isNotZero();
        assertThat(r.stderr()).contains("volume fenced-9 is fenced: this node is not the primary");
        PeerRun unknown = PeerRun.of(60, "nbdinfo", uri("nothing"));
        assertThat(unknown.exit()).isNotZero();
        assertThat(closes.get()).isZero();
    }

    private static String output(Process p) {
        try {
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void disconnectInTheMiddleOfAnNbdshWorkload() throws Exception {
        String script = String.join("\n",
                "import sys",
                "buf = b'x' * 4096",
                "try:",
                "    for i in range(2000000):",
                "        h.pwrite(buf, (i % 4096) * 4096)",
                "except Exception as e:",
                "    print('client saw:', e, file=sys.stderr)",
                "    sys.exit(3)",
                "sys.exit(0)");
        ProcessBuilder pb = new ProcessBuilder("nbdsh", "-u", uri("vol-work"), "-c", script).redirectErrorStream(true);
        pb.environment().put("PATH", PeerRun.DEBIAN_PATH); // nbdsh needs the distribution's python3
        Process p = pb.start();
        try {
            for (int i = 0; i < 3000 && writes.get() < 200 && p.isAlive(); i++) {
                Thread.sleep(10);
            }
            assertThat(writes.get()).as(() -> p.isAlive() ? "still running" : output(p)).isGreaterThanOrEqualTo(200);
            connection.get().disconnect("test: lease lost");
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.exitValue()).as(out).isEqualTo(3);
            assertThat(out).contains("client saw:");
        } finally {
            p.destroyForcibly();
        }
        awaitCloses(1);
        int after = writes.get();
        Thread.sleep(50);
        assertThat(writes.get()).isEqualTo(after);
        assertThat(server.stats().connections()).isZero();
    }
}

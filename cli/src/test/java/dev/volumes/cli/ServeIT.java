package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/volumes serve} on an empty data directory, used by the real NBD tools: nbdinfo sees
 * the default export, nbdcopy writes while a second process takes a live snapshot, the snapshot
 * holds per block either the old or the new bytes, /metrics is scraped and parsed, SIGTERM stops
 * the daemon cleanly and the pool checks clean afterwards. Also: a second daemon and a second
 * writer are refused with "in use".
 */
class ServeIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BLOCK = 64 * 1024;

    @TempDir
    Path dir;

    @Test
    void freshDataDirServesLiveSnapshotMetricsAndStopsCleanly() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("nbdcopy", "libnbd-bin");
        Path data = dir.resolve("data");
        Path source = dir.resolve("source.img");
        byte[] bytes = new byte[96 << 20];
        Random random = Seeds.random("ServeIT");
        random.nextBytes(bytes);
        Files.write(source, bytes);

        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--volume-size", "256M")) {
            assertThat(daemon.output()).contains("first run: creating pool", "export disk",
                    "nbdinfo " + daemon.uri("disk"));

            JsonNode info = JSON.readTree(PeerRun.of(60, "nbdinfo", "--json", daemon.uri("disk")).ok().stdout());
            JsonNode export = info.get("exports").get(0);
            assertThat(export.get("export-name").asText()).isEqualTo("disk");
            assertThat(export.get("export-size").asLong()).isEqualTo(256L << 20);
            assertThat(export.get("is_read_only").asBoolean()).isFalse();
            assertThat(export.get("can_flush").asBoolean()).isTrue();
            assertThat(info.get("protocol").asText()).contains("newstyle-fixed");

            Process copy = new ProcessBuilder("nbdcopy", "--flush", "--request-size=65536", source.toString(),
                    daemon.uri("disk")).redirectErrorStream(true).start();
            Thread.sleep(300);
            Launcher.run(data, "snapshot", "create", "disk", "live").ok();
            assertThat(copy.waitFor(5, TimeUnit.MINUTES)).isTrue();
            assertThat(copy.exitValue()).as(new String(copy.getInputStream().readAllBytes())).isZero();
            Launcher.run(data, "snapshot", "create", "disk", "after").ok();

            byte[] live = readExport(daemon, "live", dir.resolve("live.img"));
            int oldBlocks = 0;
            int newBlocks = 0;
            byte[] zeros = new byte[BLOCK];
            for (int off = 0; off < bytes.length; off += BLOCK) {
                byte[] got = Arrays.copyOfRange(live, off, off + BLOCK);
                if (Arrays.equals(got, zeros)) {
                    oldBlocks++;
                } else {
                    assertThat(got).as("snapshot block at %d is old (zeros) or new, never a mix", off)
                            .isEqualTo(Arrays.copyOfRange(bytes, off, off + BLOCK));
                    newBlocks++;
                }
            }
            assertThat(oldBlocks + newBlocks).isEqualTo(bytes.length / BLOCK);
            byte[] after = readExport(daemon, "after", dir.resolve("after.img"));
            assertThat(Arrays.copyOf(after, bytes.length)).isEqualTo(bytes);

            PeerRun list = PeerRun.of(60, "nbdinfo", "--list", "--json", "nbd://127.0.0.1:" + daemon.nbdPort).ok();
            assertThat(list.stdout()).contains("\"live\"", "\"after\"", "\"disk\"");

            Map<String, Double> metrics = scrape(daemon.metricsPort);
            assertThat(metrics.get("volumes_export_requests_total{export=\"disk\",op=\"write\"}")).isPositive();
            assertThat(metrics.get("volumes_export_bytes_total{export=\"disk\",op=\"write\"}"))
                    .isGreaterThanOrEqualTo(bytes.length);
            assertThat(metrics.get("volumes_pool_used_bytes")).isGreaterThanOrEqualTo(bytes.length);
            assertThat(metrics.get("volumes_pool_volumes")).isEqualTo(3.0);
            assertThat(metrics).containsKey("volumes_nbd_connections");

            int exit = daemon.stop();
            assertThat(daemon.output()).as("exit %d", exit).contains("stopped cleanly");
        }
        Launcher.Result check = Launcher.run(data, "pool", "check").ok();
        assertThat(check.out()).contains("clean").contains("3 volumes");
    }

    @Test
    void secondDaemonAndSecondWriterAreRefusedAsInUse() throws Exception {
        Path data = dir.resolve("data");
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data)) {
            Launcher.Result second = Launcher.run(data, "serve", "--listen", "127.0.0.1:0", "--metrics", "off");
            CommandsIT.assertOneLineError(second, 6, "already serving");

            // Without the control socket a command opens the pool file itself: the daemon's lock refuses it.
            Files.delete(data.resolve("control.sock"));
            Launcher.Result writer = Launcher.run(data, "volume", "list");
            CommandsIT.assertOneLineError(writer, 6, "in use");
            assertThat(writer.err()).contains("process " + daemon.process.pid());
        }
    }

    @Test
    void connectionLimitsApplyAndBadValuesAreUsageErrors() throws Exception {
        Path data = dir.resolve("data");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--max-connections", "0"), 2, "--max-connections");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--handshake-timeout", "soon"), 2,
                "--handshake-timeout");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--tcp-send-buffer", "2G"), 2, "--tcp-send-buffer");
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--max-connections", "1", "--handshake-timeout",
                "2s", "--tcp-send-buffer", "256K")) {
            try (java.net.Socket first = greeted(daemon)) {
                // The one slot is taken: the next client is closed before the greeting.
                try (java.net.Socket second = new java.net.Socket("127.0.0.1", daemon.nbdPort)) {
                    second.setSoTimeout(10_000);
                    assertThat(second.getInputStream().read()).isEqualTo(-1);
                }
                // The first never negotiates: the handshake timeout closes it, freeing the slot.
                first.setSoTimeout(20_000);
                assertThat(first.getInputStream().readAllBytes()).hasSize(10); // rest of the greeting, then EOF
            }
            // The server frees the slot when the connection's thread ends, just after the socket
            // closed: a client reconnecting at once may still be refused, so allow it a few tries.
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
            String greeting = "";
            while (!greeting.equals("NBDMAGIC") && System.nanoTime() < deadline) {
                try (java.net.Socket third = new java.net.Socket("127.0.0.1", daemon.nbdPort)) {
                    third.setSoTimeout(10_000);
                    greeting = new String(third.getInputStream().readNBytes(8), java.nio.charset.StandardCharsets.US_ASCII);
                }
                if (!greeting.equals("NBDMAGIC")) {
                    Thread.sleep(50);
                }
            }
            assertThat(greeting).as("a third client once the slot is free").isEqualTo("NBDMAGIC");
        }
    }

    /** A raw TCP connection that has read the server's NBDMAGIC. */
    private static java.net.Socket greeted(Launcher.Daemon daemon) throws Exception {
        java.net.Socket s = new java.net.Socket("127.0.0.1", daemon.nbdPort);
        s.setSoTimeout(10_000);
        assertThat(new String(s.getInputStream().readNBytes(8), java.nio.charset.StandardCharsets.US_ASCII))
                .isEqualTo("NBDMAGIC");
        return s;
    }

    private static byte[] readExport(Launcher.Daemon daemon, String export, Path file) throws Exception {
        PeerRun.of(300, "nbdcopy", daemon.uri(export), file.toString()).ok();
        return Files.readAllBytes(file);
    }

    /** Parses the Prometheus text format: "name{labels} value" lines, comments skipped. */
    static Map<String, Double> scrape(int port) throws Exception {
        HttpResponse<String> response = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        Map<String, Double> values = new HashMap<>();
        Pattern sample = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*\\})?) (\\S+)$");
        for (String line : response.body().lines().toList()) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = sample.matcher(line);
            assertThat(m.matches()).as("Prometheus sample line: %s", line).isTrue();
            values.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return values;
    }
}

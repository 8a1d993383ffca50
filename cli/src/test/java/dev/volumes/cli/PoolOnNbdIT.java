package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pool whose bytes live behind a real NBD server: {@code pool create --backing nbd://...} on
 * {@code nbdkit file}, a raw image imported and exported back byte for byte, {@code pool check}
 * clean; nbdkit is stopped and started again on the same file, and the pool opens with its volumes.
 */
class PoolOnNbdIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void poolOnAnNbdExportKeepsItsVolumesAcrossAServerRestart() throws Exception {
        Peers.require("nbdkit", "nbdkit");
        Path backing = dir.resolve("backing.raw");
        try (var f = java.nio.channels.FileChannel.open(backing, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(512L << 20);
            f.write(java.nio.ByteBuffer.allocate(1), (512L << 20) - 1);
        }
        byte[] image = new byte[3 << 20];
        new Random(7).nextBytes(image);
        Path raw = Files.write(dir.resolve("image.raw"), image);
        Path data = dir.resolve("data");
        int port = freePort();
        String uri = "nbd://127.0.0.1:" + port + "/";
        try (Nbdkit server = Nbdkit.file(port, backing)) {
            JsonNode pool = JSON.readTree(Launcher.run(data, "pool", "create", "--backing", uri, "--json").ok().out());
            assertThat(pool.get("totalBytes").asLong()).isPositive().isLessThanOrEqualTo(512L << 20);
            Launcher.run(data, "import", raw.toString(), "img").ok();
            Launcher.run(data, "snapshot", "create", "img", "img@1").ok();
            Launcher.run(data, "export", "img@1", dir.resolve("back.raw").toString()).ok();
            assertThat(Files.readAllBytes(dir.resolve("back.raw"))).isEqualTo(image);
        }
        CommandsIT.assertOneLineError(Launcher.run(data, "volume", "list"), ExitCode.FAILURE.code, "127.0.0.1:" + port);
        try (Nbdkit server = Nbdkit.file(port, backing)) {
            JsonNode list = JSON.readTree(Launcher.run(data, "volume", "list", "--json").ok().out());
            assertThat(list.findValuesAsText("name")).containsExactlyInAnyOrder("img", "img@1");
            Launcher.Result check = Launcher.run(data, "pool", "check");
            assertThat(check.exit()).as(check.out() + check.err()).isZero();
            assertThat(check.out()).contains("clean");
            CommandsIT.assertOneLineError(Launcher.run(dir.resolve("other"), "pool", "create", "--backing", uri,
                    "--size", "1G"), ExitCode.USAGE.code, "omit --size");
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** {@code nbdkit file} on 127.0.0.1, dying with this JVM; {@link #close()} stops it. */
    private record Nbdkit(Process process) implements AutoCloseable {

        static Nbdkit file(int port, Path file) throws IOException, InterruptedException {
            Process p = new ProcessBuilder("nbdkit", "--exit-with-parent", "-f", "-i", "127.0.0.1", "-p",
                    Integer.toString(port), "file", file.toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline && p.isAlive()) {
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                    return new Nbdkit(p);
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            p.destroyForcibly().waitFor();
            throw new AssertionError("nbdkit did not start on port " + port);
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }
}

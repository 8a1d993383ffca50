package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.WriteFlag;
import dev.volumes.replica.FencedException;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.Replication;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code volumes replica serve} run as users run it: replica volumes created on first use, a
 * writer claims one with its term over NBD and writes; the promise and the data survive a restart
 * (SIGTERM, start again); an older term is refused after it, a newer one reads the data back; the
 * promised terms are on /metrics; missing pools and volumes, and a running daemon, are clear errors.
 */
class ReplicaServeIT {

    @TempDir
    Path dir;

    @Test
    void replicaExportsKeepTheirPromisedTermAndDataAcrossARestart() throws Exception {
        Path data = dir.resolve("node");
        Launcher.Result missing = Launcher.run(data, "replica", "serve", "vol1");
        CommandsIT.assertOneLineError(missing, ExitCode.NOT_FOUND.code, "--create SIZE");

        byte[] pattern = new byte[256 << 10];
        new Random(42).nextBytes(pattern);
        List<String> create = List.of("replica", "serve", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
                "--create", "16M", "vol1", "vol2");
        try (Launcher.Daemon node = Launcher.Daemon.launch(Map.of(), data, create)) {
            assertThat(node.output()).contains("created replica volume 'vol1' (16 MiB", "promised term 0",
                    "--replica nbd://127.0.0.1:" + node.nbdPort + "/vol1");
            ReplicaConnector vol1 = ReplicaConnector.nbd("127.0.0.1", node.nbdPort, "vol1");
            try (Device d = vol1.connect(5, "writer-a")) {
                assertThat(d.size()).isEqualTo(Replication.replicaSize(16L << 20));
                d.write(ByteBuffer.wrap(pattern), 1 << 20, WriteFlag.FUA);
            }
            assertThat(ServeIT.scrape(node.metricsPort))
                    .containsEntry("volumes_replica_promised_term{export=\"vol1\"}", 5.0)
                    .containsEntry("volumes_replica_promised_term{export=\"vol2\"}", 0.0);
            assertThat(node.stop()).as("exit status after SIGTERM").isEqualTo(143);
            assertThat(node.output()).contains("stopped cleanly");
        }

        List<String> again = List.of("replica", "serve", "--listen", "127.0.0.1:0", "vol1");
        try (Launcher.Daemon node = Launcher.Daemon.launch(Map.of(), data, again)) {
            assertThat(node.output()).containsPattern("replica vol1 +16 MiB +promised term 5");
            ReplicaConnector vol1 = ReplicaConnector.nbd("127.0.0.1", node.nbdPort, "vol1");
            assertThatThrownBy(() -> vol1.connect(4, "writer-old").close()).isInstanceOf(FencedException.class)
                    .hasMessageContaining("promised term 5");
            try (Device d = vol1.connect(6, "writer-b")) {
                ByteBuffer back = ByteBuffer.allocate(pattern.length);
                d.read(back, 1 << 20);
                assertThat(back.array()).isEqualTo(pattern);
            }
        }
    }

    @Test
    void replicaServeRefusesAPoolADaemonIsServing() throws Exception {
        Path data = dir.resolve("shared");
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--volume-size", "16M")) {
            Launcher.Result r = Launcher.run(data, "replica", "serve", "--listen", "127.0.0.1:0", "disk");
            CommandsIT.assertOneLineError(r, ExitCode.IN_USE.code, "their own --data-dir");
        }
        Launcher.Result tooSmall = Launcher.run(dir.resolve("small"), "replica", "serve", "--create", "0", "v");
        CommandsIT.assertOneLineError(tooSmall, ExitCode.USAGE.code, "--create");
    }
}

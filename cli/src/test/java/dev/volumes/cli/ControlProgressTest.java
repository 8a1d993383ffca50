package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control API in-process (a pool on a MemoryDevice behind a real ControlServer on a Unix
 * socket): progress lines of a long operation reach the client's listener before the response,
 * monotonic and ending at the total; lifecycle operations and their failures cross the socket
 * with the same exit codes as locally.
 */
class ControlProgressTest {

    @TempDir
    Path dir;

    @Test
    void exportAndImportStreamProgressThenAnswer() throws Exception {
        Pool pool = Pool.create(MemoryDevice.create(64L << 20), PoolOptions.builder().blockSize(65536).build());
        try (LocalPoolService local = new LocalPoolService("memory", pool);
                ControlServer server = ControlServer.start(dir.resolve("control.sock"), local);
                PoolService client = ControlClient.connect(dir.resolve("control.sock")).orElseThrow()) {
            client.createVolume("v", 8L << 20);
            try (Device v = pool.openVolume("v")) {
                byte[] bytes = new byte[8 << 20];
                new java.util.Random(7).nextBytes(bytes);
                v.write(ByteBuffer.wrap(bytes), 0);
            }
            List<long[]> updates = new ArrayList<>();
            Path file = dir.resolve("v.img");
            VolumeView exported = client.exportRaw("v", file, (done, total) -> updates.add(new long[] {done, total}));
            assertThat(exported.name()).isEqualTo("v");
            assertThat(Files.size(file)).isEqualTo(8L << 20);
            assertThat(updates).isNotEmpty();
            assertThat(updates.getLast()).containsExactly(8L << 20, 8L << 20);
            for (int i = 1; i < updates.size(); i++) {
                assertThat(updates.get(i)[0]).isGreaterThanOrEqualTo(updates.get(i - 1)[0]);
            }

            updates.clear();
            VolumeView imported = client.importRaw(file, "w", (done, total) -> updates.add(new long[] {done, total}));
            assertThat(imported.size()).isEqualTo(8L << 20);
            assertThat(updates.getLast()).containsExactly(8L << 20, 8L << 20);
            assertThatThrownBy(() -> client.diff("v", "w")).as("v and w are not of one lineage")
                    .isInstanceOf(CliException.class)
                    .satisfies(e -> assertThat(((CliException) e).exitCode()).isEqualTo(ExitCode.USAGE));
        }
    }

    @Test
    void lifecycleFailuresCrossTheSocketWithTheirExitCodes() throws Exception {
        Pool pool = Pool.create(MemoryDevice.create(64L << 20), PoolOptions.builder().blockSize(65536).build());
        try (LocalPoolService local = new LocalPoolService("memory", pool);
                ControlServer server = ControlServer.start(dir.resolve("control.sock"), local);
                PoolService client = ControlClient.connect(dir.resolve("control.sock")).orElseThrow()) {
            client.createVolume("v", 1L << 20);
            client.snapshot("v", "s");
            assertThatThrownBy(() -> client.delete("v", true)).isInstanceOf(CliException.class)
                    .hasMessageContaining("not a snapshot")
                    .satisfies(e -> assertThat(((CliException) e).exitCode()).isEqualTo(ExitCode.USAGE));
            assertThatThrownBy(() -> client.resize("s", 2L << 20)).isInstanceOf(CliException.class)
                    .satisfies(e -> assertThat(((CliException) e).exitCode()).isEqualTo(ExitCode.READ_ONLY));
            assertThatThrownBy(() -> client.delete("nope", false)).isInstanceOf(CliException.class)
                    .satisfies(e -> assertThat(((CliException) e).exitCode()).isEqualTo(ExitCode.NOT_FOUND));
            assertThat(client.resize("v", 4L << 20).size()).isEqualTo(4L << 20);
            assertThat(client.diff("s", "v").ranges()).isEmpty();
            assertThat(client.delete("s", true).kind()).isEqualTo("snapshot");
            assertThat(client.repair().clean()).isTrue();
            assertThat(client.info("v").usage()).isNotNull();
        }
    }
}

package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.device.ReadOnlyDeviceException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pool opened on a read-only backing (a read-only file, an OCI image) is a read-only pool:
 * everything reads, every change is refused with {@link ReadOnlyDeviceException}, and sync and
 * close write nothing.
 */
class ReadOnlyBackingTest {

    @TempDir
    Path dir;

    @Test
    void readsWorkChangesAreRefusedAndCloseWritesNothing() throws Exception {
        Path file = dir.resolve("p.pool");
        byte[] data = new byte[100_000];
        Arrays.fill(data, (byte) 0x5a);
        try (Pool pool = Pool.create(file, 64L << 20, PoolOptions.defaults())) {
            pool.createVolume("v", 1 << 20);
            try (Device v = pool.openVolume("v")) {
                v.write(ByteBuffer.wrap(data), 4096);
            }
            pool.snapshot("v", "s");
        }
        byte[] before = Files.readAllBytes(file);

        try (Pool pool = Pool.open(FileDevice.openReadOnly(file))) {
            assertThat(pool.list()).extracting(VolumeInfo::name).containsExactlyInAnyOrder("v", "s");
            try (Device v = pool.openVolume("v")) {
                assertThat(v.capabilities().has(Capability.READ_ONLY)).isTrue();
                ByteBuffer back = ByteBuffer.allocate(data.length);
                v.read(back, 4096);
                assertThat(back.array()).isEqualTo(data);
                assertThatThrownBy(() -> v.write(ByteBuffer.wrap(data), 0)).isInstanceOf(ReadOnlyDeviceException.class);
                assertThatThrownBy(() -> v.writeZeroes(0, 4096, true)).isInstanceOf(ReadOnlyDeviceException.class);
                assertThatThrownBy(() -> v.discard(0, 4096)).isInstanceOf(ReadOnlyDeviceException.class);
                v.sync();
            }
            assertThatThrownBy(() -> pool.createVolume("w", 4096)).isInstanceOf(ReadOnlyDeviceException.class)
                    .hasMessageContaining("read-only");
            assertThatThrownBy(() -> pool.snapshot("v", "s2")).isInstanceOf(ReadOnlyDeviceException.class);
            assertThatThrownBy(() -> pool.clone("s", "c")).isInstanceOf(ReadOnlyDeviceException.class);
            pool.sync();
            assertThat(pool.check().clean()).isTrue();
        }
        assertThat(Files.readAllBytes(file)).as("a read-only pool never writes its backing").isEqualTo(before);
    }
}

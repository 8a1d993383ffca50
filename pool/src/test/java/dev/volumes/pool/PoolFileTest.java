package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.DeviceInUseException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The FileDevice conveniences: create, close, reopen, locking. */
class PoolFileTest {

    @Test
    void poolFileRoundTripsAndIsLockedWhileOpen(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("pool.img");
        try (Pool pool = Pool.create(file, 64L << 20, PoolOptions.builder().label("file").build())) {
            pool.createVolume("db", 16L << 20);
            write(pool.openVolume("db"), 12345, fill(200_000, 6));
            assertThatThrownBy(() -> Pool.open(file)).isInstanceOf(DeviceInUseException.class);
        }
        assertThatThrownBy(() -> Pool.create(file, 64L << 20, PoolOptions.defaults()))
                .isInstanceOf(FileAlreadyExistsException.class);
        try (Pool pool = Pool.open(file)) {
            assertThat(pool.info().label()).isEqualTo("file");
            assertThat(read(pool.openVolume("db"), 12345, 200_000)).containsOnly(6);
            assertThat(read(pool.openVolume("db"), 0, 12345)).containsOnly(0);
            assertThat(pool.check().problems()).isEmpty();
        }
    }
}

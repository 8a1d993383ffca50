package dev.volumes.device;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FileDevice without its Linux system calls (as on macOS, or with native access denied): the
 * capabilities must not claim hole punching or extents, and the defaults must still keep every
 * promise.
 */
class FileDeviceFallbackTest {

    @TempDir
    Path dir;

    @Test
    void withoutNativeCallsCapabilitiesAreHonestAndDefaultsKeepThePromises() throws IOException {
        Path p = dir.resolve("portable.img");
        try (FileDevice d = FileDevice.openPortable(p, false, 1 << 20)) {
            assertThat(d.capabilities().asSet()).containsExactly(Capability.RESIZE);
            byte[] data = new byte[1 << 20];
            Arrays.fill(data, (byte) 3);
            d.write(ByteBuffer.wrap(data), 0);

            d.writeZeroes(1000, 5000, true);
            d.writeZeroes(100_000, 70_000, false);
            d.discard(500_000, 4096);

            ByteBuffer back = ByteBuffer.allocate(1 << 20);
            d.read(back, 0);
            byte[] expected = data.clone();
            Arrays.fill(expected, 1000, 6000, (byte) 0);
            Arrays.fill(expected, 100_000, 170_000, (byte) 0);
            assertThat(back.array()).as("discard without DISCARD is a no-op that keeps data").isEqualTo(expected);
            assertThat(d.extents(10, 100)).containsExactly(new Extent(10, 100, Extent.Type.DATA));
            d.sync();
        }
        try (FileDevice r = FileDevice.openPortable(p, true, -1)) {
            assertThat(r.capabilities().asSet()).containsExactly(Capability.READ_ONLY);
        }
    }
}

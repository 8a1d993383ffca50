package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;

/**
 * The conformance suite over {@link Devices#slice}: each slice sits at an offset that is a multiple
 * of 512 but not of 4 KiB or 64 KiB (so its pages straddle the backing's chunks) inside a
 * larger memory device whose bytes around the window are a guard pattern; after every test the
 * guards must be intact, proving no operation reached outside the window.
 */
class SliceViewConformanceTest extends DeviceConformanceTest {

    private static final long GUARD = 137 * 512;

    private final List<MemoryDevice> backings = new ArrayList<>();

    @Override
    protected Device create(long size) throws IOException {
        MemoryDevice backing = MemoryDevice.create("under-slice", GUARD + size + GUARD);
        byte[] guard = new byte[(int) GUARD];
        java.util.Arrays.fill(guard, (byte) 0x77);
        backing.write(ByteBuffer.wrap(guard), 0);
        backing.write(ByteBuffer.wrap(guard), GUARD + size);
        backings.add(backing);
        return Devices.slice(backing, GUARD, size);
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        Device slice = create(content.length);
        slice.write(ByteBuffer.wrap(content), 0);
        return Devices.readOnly(slice);
    }

    @AfterEach
    void guardsAreIntact() throws IOException {
        for (MemoryDevice backing : backings) {
            long size = backing.size();
            for (long at : new long[] {0, size - GUARD}) {
                ByteBuffer b = ByteBuffer.allocate((int) GUARD);
                backing.read(b, at);
                for (int i = 0; i < GUARD; i++) {
                    assertThat(b.get(i)).as("guard byte at %d of the slice's backing", at + i).isEqualTo((byte) 0x77);
                }
            }
            backing.close();
        }
        backings.clear();
    }
}

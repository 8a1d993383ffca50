package dev.volumes.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The views of {@link Devices}: construction, capabilities, ownership, translation. */
class DevicesTest {

    @Test
    void sliceOutsideTheDeviceIsOutOfRangeAndBadArgumentsAreIllegal() throws IOException {
        MemoryDevice d = MemoryDevice.create("base", 1024);
        assertThatThrownBy(() -> Devices.slice(d, 512, 513)).isInstanceOf(OutOfRangeException.class)
                .hasMessageContaining("base").hasMessageContaining("size 1024");
        assertThatThrownBy(() -> Devices.slice(d, -1, 10)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Devices.slice(d, 100, 10)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("multiple of 512");
        assertThatThrownBy(() -> Devices.slice(null, 0, 10)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Devices.readOnly(null)).isInstanceOf(IllegalArgumentException.class);
        assertThat(Devices.slice(d, 1024, 0).size()).isZero();
    }

    @Test
    void sliceTranslatesOffsetsAndExtentsAndCannotResize() throws IOException {
        MemoryDevice d = MemoryDevice.create("base", 4L * MemoryDevice.CHUNK);
        Device s = Devices.slice(d, MemoryDevice.CHUNK - 512, 2L * MemoryDevice.CHUNK);
        assertThat(s.name()).isEqualTo("base[" + (MemoryDevice.CHUNK - 512) + "+" + 2 * MemoryDevice.CHUNK + "]");
        s.write(ByteBuffer.wrap(new byte[] {42}), 5);
        ByteBuffer b = ByteBuffer.allocate(1);
        d.read(b, MemoryDevice.CHUNK - 507);
        assertThat(b.get(0)).isEqualTo((byte) 42);
        // [0, 512) of the slice is the end of the device's written first chunk, then the unwritten second.
        assertThat(s.extents(500, 20)).containsExactly(new Extent(500, 12, Extent.Type.DATA),
                new Extent(512, 8, Extent.Type.HOLE));
        assertThat(s.extents(0, s.size()).getFirst().offset()).isZero();
        assertThat(s.capabilities().has(Capability.RESIZE)).isFalse();
        assertThatThrownBy(() -> s.resize(10)).isInstanceOf(UnsupportedDeviceOperationException.class);
        Device nested = Devices.slice(s, 0, 6);
        ByteBuffer n = ByteBuffer.allocate(1);
        nested.read(n, 5);
        assertThat(n.get(0)).isEqualTo((byte) 42);
    }

    @Test
    void readOnlyViewDropsWriteCapabilitiesAndClosingAViewLeavesTheDeviceOpen() throws IOException {
        MemoryDevice d = MemoryDevice.create(4096);
        Device ro = Devices.readOnly(d);
        assertThat(ro.capabilities().asSet()).contains(Capability.READ_ONLY, Capability.EXTENTS, Capability.VOLATILE)
                .doesNotContain(Capability.DISCARD, Capability.RESIZE, Capability.WRITE_ZEROES, Capability.FUA);
        Device s = Devices.slice(d, 0, 100);
        ro.close();
        s.close();
        assertThatThrownBy(() -> ro.read(ByteBuffer.allocate(1), 0)).isInstanceOf(DeviceClosedException.class);
        assertThatThrownBy(() -> s.read(ByteBuffer.allocate(1), 0)).isInstanceOf(DeviceClosedException.class);
        d.write(ByteBuffer.allocate(1), 0);
        assertThat(d.size()).isEqualTo(4096);
    }

    @Test
    void aSliceOfAReadOnlyDeviceIsReadOnly() throws IOException {
        Device s = Devices.slice(Devices.readOnly(MemoryDevice.create(4096)), 512, 100);
        assertThat(s.capabilities().readOnly()).isTrue();
        assertThatThrownBy(() -> s.write(ByteBuffer.allocate(1), 0)).isInstanceOf(ReadOnlyDeviceException.class);
        assertThatThrownBy(() -> s.discard(0, 1)).isInstanceOf(ReadOnlyDeviceException.class);
    }
}

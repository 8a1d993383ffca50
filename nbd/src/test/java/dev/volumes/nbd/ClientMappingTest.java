package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.UnsupportedDeviceOperationException;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class ClientMappingTest {

    @Test
    void transmissionFlagsBecomeCapabilities() {
        assertThat(ClientMapping.capabilities(Wire.TFLAG_HAS_FLAGS, false)).isEqualTo(Capabilities.of());
        assertThat(ClientMapping.capabilities(0x0ded, true)).isEqualTo(Capabilities.of(Capability.FUA,
                Capability.DISCARD, Capability.WRITE_ZEROES, Capability.WRITE_ZEROES_UNMAP, Capability.PREFETCH,
                Capability.EXTENTS));
        assertThat(ClientMapping.capabilities(Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_READ_ONLY, false).readOnly()).isTrue();
    }

    @Test
    void allocationStatusBecomesExtentTypes() {
        assertThat(ClientMapping.extentType(0)).isEqualTo(Extent.Type.DATA);
        assertThat(ClientMapping.extentType(Wire.STATE_HOLE)).isEqualTo(Extent.Type.DATA);
        assertThat(ClientMapping.extentType(Wire.STATE_ZERO)).isEqualTo(Extent.Type.ZERO);
        assertThat(ClientMapping.extentType(Wire.STATE_HOLE | Wire.STATE_ZERO)).isEqualTo(Extent.Type.HOLE);
    }

    @Test
    void errnosBecomeDeviceExceptionsNamingTheRequest() {
        String what = "nbd server h:1 export 'e': write of 4096 bytes at offset 8192";
        assertThat(map(Wire.ENOSPC)).isInstanceOf(NoSpaceException.class).hasMessageContaining(what)
                .hasMessageContaining("ENOSPC (server text)");
        assertThat(map(Wire.EPERM)).isInstanceOf(ReadOnlyDeviceException.class);
        assertThat(map(Wire.EINVAL)).isInstanceOf(OutOfRangeException.class).hasMessageContaining("EINVAL");
        assertThat(map(Wire.EOVERFLOW)).isInstanceOf(OutOfRangeException.class);
        assertThat(map(Wire.ESHUTDOWN)).isInstanceOf(DeviceClosedException.class);
        assertThat(map(Wire.ENOTSUP)).isInstanceOf(UnsupportedDeviceOperationException.class);
        assertThat(map(Wire.EIO)).isExactlyInstanceOf(IOException.class).hasMessageContaining(what)
                .hasMessageContaining("EIO");
        assertThat(map(Wire.ENOMEM)).isExactlyInstanceOf(IOException.class).hasMessageContaining("ENOMEM");
    }

    private static IOException map(int errno) {
        return ClientMapping.exception("nbd://h:1/e", "nbd server h:1 export 'e': write of 4096 bytes at offset 8192",
                "write", 8192, 4096, new ClientWire.Reply(errno, "server text", null), 1 << 20);
    }
}

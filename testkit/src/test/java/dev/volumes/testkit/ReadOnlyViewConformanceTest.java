package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The conformance suite over {@link Devices#readOnly(Device)}: a device that exists only
 * read-only, so the write tests are skipped and the read, extent, close and refusal tests run.
 */
class ReadOnlyViewConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        throw new UnsupportedOperationException("a read-only view is never writable");
    }

    @Override
    protected boolean writable() {
        return false;
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        MemoryDevice d = MemoryDevice.create("under-read-only-view", content.length);
        d.write(ByteBuffer.wrap(content), 0);
        return Devices.readOnly(d);
    }
}

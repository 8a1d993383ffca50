package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;

/** The conformance suite over {@link MemoryDevice}; its read-only form is the read-only view. */
class MemoryDeviceConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        return MemoryDevice.create("memory-test", size);
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        MemoryDevice d = MemoryDevice.create("memory-read-only", content.length);
        d.write(ByteBuffer.wrap(content), 0);
        return Devices.readOnly(d);
    }
}

package dev.volumes.testkit.external;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The conformance suite over a sparse {@link MemoryDevice} of just over 5 GiB, so offsets beyond
 * 2 and 4 GiB are exercised (int overflow in chunk arithmetic would show here). It lives in
 * another package on purpose: it proves the suite's tests and hooks are found and callable from
 * the packages of other modules, which is how they use it.
 */
class LargeMemoryDeviceConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        return MemoryDevice.create("large-memory-test", size);
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        MemoryDevice d = MemoryDevice.create("large-memory-read-only", content.length);
        d.write(ByteBuffer.wrap(content), 0);
        return Devices.readOnly(d);
    }

    @Override
    protected long deviceSize() {
        return 5L * 1024 * 1024 * 1024 + 4096 + 3;
    }
}

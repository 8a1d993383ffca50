package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;

/**
 * The conformance suite over a sparse {@link MemoryDevice} of just over 5 GiB, so offsets beyond
 * 2 and 4 GiB are exercised (int overflow in chunk arithmetic would show here).
 */
class LargeMemoryDeviceConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        return MemoryDevice.create("large-memory-test", size);
    }

    @Override
    protected long deviceSize() {
        return 5L * 1024 * 1024 * 1024 + 4096 + 3;
    }
}

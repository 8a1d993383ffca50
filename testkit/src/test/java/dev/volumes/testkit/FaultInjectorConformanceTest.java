package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import java.time.Duration;

/** A fault injector whose rule fires on every call but injects nothing must be transparent. */
class FaultInjectorConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        FaultInjector injector = FaultInjector.wrap(MemoryDevice.create("faulty", size));
        injector.onAny().delay(Duration.ZERO);
        return injector;
    }
}

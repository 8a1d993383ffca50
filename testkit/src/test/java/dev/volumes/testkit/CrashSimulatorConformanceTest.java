package dev.volumes.testkit;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;

/** The crash simulator is itself a Device: while the power is on it must keep every promise. */
class CrashSimulatorConformanceTest extends DeviceConformanceTest {

    @Override
    protected Device create(long size) {
        return CrashSimulator.wrap(MemoryDevice.create("crash-disk", size),
                Seeds.forTest("CrashSimulatorConformanceTest"));
    }
}

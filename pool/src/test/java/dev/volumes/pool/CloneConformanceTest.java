package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The conformance suite over clones. The origin volume is fully allocated with explicit zeros
 * and snapshotted, so the clone reads zeros (as the suite requires) while every one of its
 * blocks is shared: each first write to a block is a copy-on-write.
 */
class CloneConformanceTest extends DeviceConformanceTest {

    private final Map<Device, MemoryDevice> backing = new IdentityHashMap<>();

    @Override
    protected Device create(long size) throws IOException {
        MemoryDevice disk = MemoryDevice.create("pool-disk", 3 * size + (8 << 20));
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(4096).build());
        pool.createVolume("origin", size);
        try (Device origin = pool.openVolume("origin")) {
            origin.writeZeroes(0, size, false);
        }
        pool.snapshot("origin", "origin@1");
        pool.clone("origin@1", "clone");
        Device d = pool.openVolume("clone");
        backing.put(d, disk);
        return d;
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        MemoryDevice disk = backing.get(closed);
        Device d = Pool.open(disk).openVolume("clone");
        backing.put(d, disk);
        return d;
    }
}

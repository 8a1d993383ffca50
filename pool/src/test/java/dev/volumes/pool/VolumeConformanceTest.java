package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The device conformance suite over pool volumes with 64 KiB blocks, reopened through the pool;
 * {@link VolumeConformanceDefaultBlockSizeTest} runs it again with the default options (4 KiB).
 */
class VolumeConformanceTest extends DeviceConformanceTest {

    private final Map<Device, MemoryDevice> backing = new IdentityHashMap<>();

    /** The options of the pools this suite creates. */
    protected PoolOptions options() {
        return PoolOptions.builder().blockSize(65536).build();
    }

    @Override
    protected Device create(long size) throws IOException {
        MemoryDevice disk = MemoryDevice.create("pool-disk", 2 * size + (8 << 20));
        Pool pool = Pool.create(disk, options());
        pool.createVolume("v", size);
        Device d = pool.openVolume("v");
        backing.put(d, disk);
        return d;
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        MemoryDevice disk = backing.get(closed);
        Device d = Pool.open(disk).openVolume("v");
        backing.put(d, disk);
        return d;
    }
}

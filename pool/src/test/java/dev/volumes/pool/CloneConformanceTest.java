package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The conformance suite over clones in a pool with {@link PoolOptions#defaults()} (4 KiB blocks).
 * The origin volume is fully allocated with explicit zero bytes and snapshotted, so the clone
 * reads zeros (as the suite requires) while every one of its blocks is a shared data block: each
 * first write to a block is a copy-on-write that reads the shared block.
 * {@link CloneOfZeroedConformanceTest} runs it over an origin zeroed by write-zeroes instead.
 */
class CloneConformanceTest extends DeviceConformanceTest {

    private final Map<Device, MemoryDevice> backing = new IdentityHashMap<>();

    /** Makes the origin read as zeros with every block allocated. */
    protected void allocateZeros(Device origin, long size) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
        for (long at = 0; at < size; at += zeros.capacity()) {
            origin.write(zeros.clear().limit((int) Math.min(zeros.capacity(), size - at)), at);
        }
    }

    @Override
    protected Device create(long size) throws IOException {
        MemoryDevice disk = MemoryDevice.create("pool-disk", 3 * size + (8 << 20));
        Pool pool = Pool.create(disk, PoolOptions.defaults());
        pool.createVolume("origin", size);
        try (Device origin = pool.openVolume("origin")) {
            allocateZeros(origin, size);
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

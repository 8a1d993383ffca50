package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The conformance suite over snapshots (16 KiB blocks; {@link SnapshotConformanceDefaultBlockSizeTest}
 * runs it with the default options): read-only devices whose content was written to a volume
 * that is then overwritten after the snapshot, so every read goes through shared blocks.
 */
class SnapshotConformanceTest extends DeviceConformanceTest {

    /** The options of the pools this suite creates. */
    protected PoolOptions options() {
        return PoolOptions.builder().blockSize(16384).build();
    }

    @Override
    protected Device create(long size) {
        throw new UnsupportedOperationException("snapshots are read-only");
    }

    @Override
    protected boolean writable() {
        return false;
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        MemoryDevice disk = MemoryDevice.create("pool-disk", 3L * content.length + (8 << 20));
        Pool pool = Pool.create(disk, options());
        pool.createVolume("v", content.length);
        Device v = pool.openVolume("v");
        v.write(ByteBuffer.wrap(content), 0);
        pool.snapshot("v", "v@snap");
        byte[] other = new byte[Math.min(content.length, 100_000)];
        java.util.Arrays.fill(other, (byte) 0x5A);
        v.write(ByteBuffer.wrap(other), 0);
        return pool.openVolume("v@snap");
    }
}

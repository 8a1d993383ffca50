package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Snapshot and clone cost is independent of how much is mapped: counted in device writes, not time. */
class SnapshotCostTest {

    private static final int BS = 4096;

    /** Drops data, counts writes: big mapped volumes without the memory. Reads return zeros. */
    private static final class CountingNullDevice implements Device {
        final long size;
        final AtomicLong writes = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();

        CountingNullDevice(long size) {
            this.size = size;
        }

        @Override public String name() { return "null"; }
        @Override public long size() { return size; }
        @Override public Capabilities capabilities() { return Capabilities.of(); }
        @Override public void read(ByteBuffer dst, long offset) {
            while (dst.hasRemaining()) {
                dst.put((byte) 0);
            }
        }
        @Override public void write(ByteBuffer src, long offset) {
            writes.incrementAndGet();
            bytes.addAndGet(src.remaining());
            src.position(src.limit());
        }
        @Override public void sync() {}
        @Override public void close() {}
    }

    private record Cost(long writes, long bytes) {}

    private static Cost snapshotCost(int mappedBlocks) throws IOException {
        CountingNullDevice dev = new CountingNullDevice((long) (mappedBlocks + 2000) * BS);
        Pool pool = Pool.create(dev, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 128_000L * BS);
        Device v = pool.openVolume("v");
        ByteBuffer chunk = ByteBuffer.allocate(256 * BS);
        for (int b = 0; b < mappedBlocks; b += 256) {
            int n = Math.min(256, mappedBlocks - b);
            v.write(chunk.clear().limit(n * BS), (long) b * BS);
        }
        pool.sync();
        assertThat(pool.find("v").orElseThrow().allocatedBytes()).isEqualTo((long) mappedBlocks * BS);
        long w0 = dev.writes.get();
        long b0 = dev.bytes.get();
        pool.snapshot("v", "v@1");
        pool.clone("v@1", "c");
        pool.sync();
        return new Cost(dev.writes.get() - w0, dev.bytes.get() - b0);
    }

    @Test
    void snapshotAndCloneWriteTheSameMetadataAt1000And100000MappedBlocks() throws IOException {
        Cost small = snapshotCost(1_000);
        Cost large = snapshotCost(100_000);
        System.out.println("snapshot+clone+sync: 1,000 mapped blocks " + small + ", 100,000 mapped blocks " + large);
        assertThat(large).isEqualTo(small);
        assertThat(small.writes()).isLessThanOrEqualTo(2); // one catalog block and one superblock
    }
}

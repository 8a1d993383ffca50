package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A hand-written test fake over a {@link MemoryDevice}: counts reads, writes (and their bytes),
 * write-zeroes and discards reaching the backing, and stores a write of an all-zero buffer as
 * an unmapping write-zeroes so that a test whose code under test (wrongly) writes gigabytes of
 * zeros does not exhaust the heap before its assertion can fail.
 */
final class RecordingDevice extends ForwardingDevice {

    final AtomicLong reads = new AtomicLong();
    final AtomicLong writes = new AtomicLong();
    final AtomicLong writtenBytes = new AtomicLong();
    final AtomicLong zeroes = new AtomicLong();
    final AtomicLong discards = new AtomicLong();

    RecordingDevice(Device delegate) {
        super(delegate);
    }

    static RecordingDevice memory(String name, long size) {
        return new RecordingDevice(MemoryDevice.create(name, size));
    }

    /** The device underneath, bypassing the counters. */
    Device disk() {
        return delegate();
    }

    /** Every mutating call so far (writes, write-zeroes, discards). */
    long mutations() {
        return writes.get() + zeroes.get() + discards.get();
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        reads.incrementAndGet();
        super.read(dst, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        writes.incrementAndGet();
        int n = src.remaining();
        writtenBytes.addAndGet(n);
        if (n > 65536 && allZero(src)) {
            delegate().writeZeroes(offset, n, true);
            src.position(src.limit());
            return;
        }
        super.write(src, offset, flag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        zeroes.incrementAndGet();
        super.writeZeroes(offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        discards.incrementAndGet();
        super.discard(offset, length);
    }

    private static boolean allZero(ByteBuffer b) {
        for (int i = b.position(); i < b.limit(); i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}

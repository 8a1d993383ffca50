package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/** Counts mutating calls that reach the wrapped device; close() does not close it. */
final class CountingDevice extends ForwardingDevice {

    final AtomicLong mutations = new AtomicLong();

    CountingDevice(Device d) {
        super(d);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        mutations.incrementAndGet();
        super.write(src, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        mutations.incrementAndGet();
        super.write(src, offset, flag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        mutations.incrementAndGet();
        super.writeZeroes(offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        mutations.incrementAndGet();
        super.discard(offset, length);
    }

    @Override
    public void close() {}
}

package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Records every data request on the wrapped device in {@link DaemonMetrics}; changes nothing else. */
final class MeteredDevice extends ForwardingDevice {

    private final String export;
    private final DaemonMetrics metrics;

    MeteredDevice(Device delegate, String export, DaemonMetrics metrics) {
        super(delegate);
        this.export = export;
        this.metrics = metrics;
    }

    @FunctionalInterface
    private interface Op {
        void run() throws IOException;
    }

    private void timed(String op, long bytes, Op body) throws IOException {
        long start = System.nanoTime();
        Throwable failure = null;
        try {
            body.run();
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            metrics.record(export, op, failure == null ? bytes : 0, System.nanoTime() - start, failure);
        }
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        int n = dst.remaining();
        timed("read", n, () -> super.read(dst, offset));
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        int n = src.remaining();
        timed("write", n, () -> super.write(src, offset));
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        int n = src.remaining();
        timed("write", n, () -> super.write(src, offset, flag));
    }

    @Override
    public void sync() throws IOException {
        timed("flush", 0, super::sync);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        timed("write_zeroes", 0, () -> super.writeZeroes(offset, length, mayUnmap));
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        timed("trim", 0, () -> super.discard(offset, length));
    }
}

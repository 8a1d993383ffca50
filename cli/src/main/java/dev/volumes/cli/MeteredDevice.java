package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Records every data request on the wrapped device in {@link DaemonMetrics}; changes nothing else. */
final class MeteredDevice extends ForwardingDevice {

    private final DaemonMetrics.Op reads;
    private final DaemonMetrics.Op writes;
    private final DaemonMetrics.Op flushes;
    private final DaemonMetrics.Op zeroes;
    private final DaemonMetrics.Op trims;

    MeteredDevice(Device delegate, String export, DaemonMetrics metrics) {
        super(delegate);
        this.reads = metrics.op(export, "read");
        this.writes = metrics.op(export, "write");
        this.flushes = metrics.op(export, "flush");
        this.zeroes = metrics.op(export, "write_zeroes");
        this.trims = metrics.op(export, "trim");
    }

    @FunctionalInterface
    private interface Op {
        void run() throws IOException;
    }

    private static void timed(DaemonMetrics.Op metric, long bytes, Op body) throws IOException {
        long start = System.nanoTime();
        Throwable failure = null;
        try {
            body.run();
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            metric.record(failure == null ? bytes : 0, System.nanoTime() - start, failure);
        }
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        int n = dst.remaining();
        timed(reads, n, () -> super.read(dst, offset));
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        int n = src.remaining();
        timed(writes, n, () -> super.write(src, offset));
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        int n = src.remaining();
        timed(writes, n, () -> super.write(src, offset, flag));
    }

    @Override
    public void sync() throws IOException {
        timed(flushes, 0, super::sync);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        timed(zeroes, 0, () -> super.writeZeroes(offset, length, mayUnmap));
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        timed(trims, 0, () -> super.discard(offset, length));
    }
}

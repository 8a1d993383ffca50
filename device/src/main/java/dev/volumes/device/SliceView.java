package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The window view behind {@link Devices#slice(Device, long, long)}.
 *
 * <p>Design: immutable base and length plus a volatile closed flag. Every ranged operation is
 * checked against {@code [0, length)} of the view before it is translated by {@code base} and
 * forwarded, so a caller can never reach bytes outside the window; extents coming back are
 * translated to view offsets. The delegate clamps nothing: its own checks still run (if it
 * shrank under the window, its {@link OutOfRangeException} surfaces).
 */
final class SliceView extends ForwardingDevice {

    private final long base;
    private final long length;
    private final String name;
    private final Capabilities capabilities;
    private volatile boolean closed;

    SliceView(Device delegate, long base, long length) {
        super(delegate);
        this.base = base;
        this.length = length;
        this.name = delegate.name() + "[" + base + "+" + length + "]";
        this.capabilities = delegate.capabilities().without(Capability.RESIZE);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return length;
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        check("read", offset, dst.remaining());
        super.read(dst, base + offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        check("write", offset, src.remaining());
        super.write(src, base + offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        check("write", offset, src.remaining());
        super.write(src, base + offset, flag);
    }

    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
        super.sync();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        check("write-zeroes", offset, length);
        super.writeZeroes(base + offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        check("discard", offset, length);
        super.discard(base + offset, length);
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        check("prefetch", offset, length);
        super.prefetch(base + offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        check("extents", offset, length);
        List<Extent> inner = super.extents(base + offset, length);
        List<Extent> out = new ArrayList<>(inner.size());
        for (Extent e : inner) {
            out.add(new Extent(e.offset() - base, e.length(), e.type()));
        }
        return out;
    }

    @Override
    public void resize(long newSize) throws IOException {
        ensureOpen("resize");
        throw new UnsupportedDeviceOperationException(name, "resize", "a slice has a fixed size of " + length
                + " bytes");
    }

    /** Closes the view only; the wrapped device stays open. */
    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return "SliceView[" + name + "]";
    }

    private void check(String operation, long offset, long count) throws IOException {
        ensureOpen(operation);
        Bounds.checkRange(name, operation, offset, count, length);
    }

    private void ensureOpen(String operation) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name, operation);
        }
    }
}

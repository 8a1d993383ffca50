package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The read-only view behind {@link Devices#readOnly(Device)}.
 *
 * <p>Design: a stateless forwarder plus a volatile closed flag, checked before every forwarded
 * call; modifying operations check closed, then bounds, then refuse, so a closed view reports
 * {@link DeviceClosedException} and a bad range reports its real problem first.
 */
final class ReadOnlyView extends ForwardingDevice {

    private final Capabilities capabilities;
    private volatile boolean closed;

    ReadOnlyView(Device delegate) {
        super(delegate);
        this.capabilities = delegate.capabilities()
                .without(Capability.FUA, Capability.DISCARD, Capability.DISCARD_READS_ZEROES,
                        Capability.WRITE_ZEROES, Capability.WRITE_ZEROES_UNMAP, Capability.RESIZE)
                .with(Capability.READ_ONLY);
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return super.size();
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        ensureOpen("read");
        super.read(dst, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        refuse("write", src, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        refuse(flag == WriteFlag.FUA ? "FUA write" : "write", src, offset);
    }

    private void refuse(String operation, ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, operation);
        refuse(operation, offset, src.remaining());
    }

    private void refuse(String operation, long offset, long length) throws IOException {
        ensureOpen(operation);
        Bounds.checkRange(this, operation, offset, length, super.size());
        throw new ReadOnlyDeviceException(name(), operation);
    }

    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
        super.sync();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        refuse("write-zeroes", offset, length);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        refuse("discard", offset, length);
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        ensureOpen("prefetch");
        super.prefetch(offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        ensureOpen("extents");
        return super.extents(offset, length);
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + name() + "' to negative size " + newSize);
        }
        ensureOpen("resize");
        throw new ReadOnlyDeviceException(name(), "resize");
    }

    /** Closes the view only; the wrapped device stays open. */
    @Override
    public void close() {
        closed = true;
    }

    private void ensureOpen(String operation) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name(), operation);
        }
    }
}

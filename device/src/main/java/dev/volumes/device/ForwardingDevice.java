package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A {@link Device} that forwards every operation, optional ones included, to a delegate.
 * Decorators (views, fault injection, crash simulation, metrics, gates) extend it and override
 * only what they change, so nothing a delegate really supports is lost on the way.
 */
public abstract class ForwardingDevice implements Device {

    private final Device delegate;

    protected ForwardingDevice(Device delegate) {
        if (delegate == null) {
            throw new IllegalArgumentException("delegate device is null");
        }
        this.delegate = delegate;
    }

    /** The device operations are forwarded to. */
    protected final Device delegate() {
        return delegate;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public long size() throws IOException {
        return delegate.size();
    }

    @Override
    public Capabilities capabilities() {
        return delegate.capabilities();
    }

    @Override
    public BlockSizes blockSizes() {
        return delegate.blockSizes();
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        delegate.read(dst, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        delegate.write(src, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        delegate.write(src, offset, flag);
    }

    @Override
    public void sync() throws IOException {
        delegate.sync();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        delegate.writeZeroes(offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        delegate.discard(offset, length);
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        delegate.prefetch(offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        return delegate.extents(offset, length);
    }

    @Override
    public void resize(long newSize) throws IOException {
        delegate.resize(newSize);
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + delegate + "]";
    }
}

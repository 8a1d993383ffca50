package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A sparse in-memory {@link Device}: only chunks that were written hold memory, so sizes far
 * beyond the heap (and beyond 2 GiB) work as long as the written data fits.
 *
 * <p>Design: the byte space is split into 64 KiB chunks held in a concurrent map; a missing chunk
 * is a hole that reads as zeros. Each chunk's bytes are copied under that chunk's monitor, which
 * gives per-sector atomicity for overlapping writes (sectors never straddle chunks). Data
 * operations share a read lock; {@link #resize} takes the write lock so it never races a copy.
 * {@link #sync()} is a no-op: everything is lost when the process ends ({@link Capability#VOLATILE}).
 */
public final class MemoryDevice implements Device {

    static final int CHUNK = 64 * 1024;

    private static final Capabilities CAPABILITIES = Capabilities.of(Capability.FUA, Capability.DISCARD,
            Capability.DISCARD_READS_ZEROES, Capability.WRITE_ZEROES, Capability.WRITE_ZEROES_UNMAP,
            Capability.EXTENTS, Capability.RESIZE, Capability.VOLATILE);

    private final String name;
    private final ConcurrentHashMap<Long, byte[]> chunks = new ConcurrentHashMap<>();
    private final ReentrantReadWriteLock sizeLock = new ReentrantReadWriteLock();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicLong size;

    private MemoryDevice(String name, long size) {
        if (size < 0) {
            throw new IllegalArgumentException("negative device size " + size);
        }
        this.name = name == null ? "memory" : name;
        this.size = new AtomicLong(size);
    }

    /** A new device of {@code size} bytes, all zeros, named "memory". */
    public static MemoryDevice create(long size) {
        return new MemoryDevice("memory", size);
    }

    /** A new device of {@code size} bytes, all zeros, with the given name for messages. */
    public static MemoryDevice create(String name, long size) {
        return new MemoryDevice(name, size);
    }

    /** Bytes of memory currently held by written chunks. */
    public long allocatedBytes() {
        return (long) chunks.size() * CHUNK;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return size.get();
    }

    @Override
    public Capabilities capabilities() {
        return CAPABILITIES;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        sizeLock.readLock().lock();
        try {
            ensureOpen("read");
            Bounds.checkRange(this, "read", offset, dst.remaining(), size.get());
            long pos = offset;
            while (dst.hasRemaining()) {
                long index = pos / CHUNK;
                int within = (int) (pos % CHUNK);
                int n = Math.min(CHUNK - within, dst.remaining());
                byte[] chunk = chunks.get(index);
                if (chunk == null) {
                    fillZeros(dst, n);
                } else {
                    synchronized (chunk) {
                        dst.put(chunk, within, n);
                    }
                }
                pos += n;
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        sizeLock.readLock().lock();
        try {
            ensureOpen("write");
            Bounds.checkRange(this, "write", offset, src.remaining(), size.get());
            long pos = offset;
            while (src.hasRemaining()) {
                long index = pos / CHUNK;
                int within = (int) (pos % CHUNK);
                int n = Math.min(CHUNK - within, src.remaining());
                byte[] chunk = chunks.computeIfAbsent(index, i -> new byte[CHUNK]);
                synchronized (chunk) {
                    src.get(chunk, within, n);
                }
                pos += n;
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        write(src, offset);
    }

    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        zeroRange("write-zeroes", offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        zeroRange("discard", offset, length, true);
    }

    private void zeroRange(String operation, long offset, long length, boolean unmap) throws IOException {
        sizeLock.readLock().lock();
        try {
            ensureOpen(operation);
            Bounds.checkRange(this, operation, offset, length, size.get());
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                long index = pos / CHUNK;
                int within = (int) (pos % CHUNK);
                int n = (int) Math.min(CHUNK - within, end - pos);
                if (n == CHUNK && unmap) {
                    chunks.remove(index);
                } else {
                    byte[] chunk = chunks.get(index);
                    if (chunk != null) {
                        synchronized (chunk) {
                            Arrays.fill(chunk, within, within + n, (byte) 0);
                        }
                    }
                }
                pos += n;
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        sizeLock.readLock().lock();
        try {
            ensureOpen("extents");
            Bounds.checkRange(this, "extents", offset, length, size.get());
            List<Extent> out = new ArrayList<>();
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                long index = pos / CHUNK;
                long n = Math.min((index + 1) * CHUNK, end) - pos;
                Extent.Type type = chunks.containsKey(index) ? Extent.Type.DATA : Extent.Type.HOLE;
                Extent.append(out, pos, n, type);
                pos += n;
            }
            return out;
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + name + "' to negative size " + newSize);
        }
        sizeLock.writeLock().lock();
        try {
            ensureOpen("resize");
            long old = size.get();
            if (newSize < old) {
                long firstWhole = (newSize + CHUNK - 1) / CHUNK;
                chunks.keySet().removeIf(index -> index >= firstWhole);
                byte[] partial = chunks.get(newSize / CHUNK);
                if (partial != null && newSize % CHUNK != 0) {
                    Arrays.fill(partial, (int) (newSize % CHUNK), CHUNK, (byte) 0);
                }
            }
            size.set(newSize);
        } finally {
            sizeLock.writeLock().unlock();
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            chunks.clear();
        }
    }

    @Override
    public String toString() {
        return "MemoryDevice[" + name + ", " + size.get() + " bytes]";
    }

    private void ensureOpen(String operation) throws DeviceClosedException {
        if (closed.get()) {
            throw new DeviceClosedException(name, operation);
        }
    }

    private static void fillZeros(ByteBuffer dst, int n) {
        for (int i = 0; i < n; i++) {
            dst.put((byte) 0);
        }
    }
}

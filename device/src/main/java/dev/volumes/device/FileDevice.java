package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A {@link Device} backed by a regular file, with positional {@link java.nio.channels.FileChannel}
 * I/O.
 *
 * <h2>Promises</h2>
 * <ul>
 *   <li><b>Exclusive use.</b> A writable open takes an exclusive OS lock on the whole file, a
 *       read-only open a shared one. A second writable open of the same file, from this JVM or
 *       another process, throws {@link DeviceInUseException} whose message says the file is in
 *       use and, on Linux, by which process. Read-only opens in one JVM share the file. Locks are
 *       advisory: programs that do not lock (cp, dd) are not stopped.</li>
 *   <li><b>Durability.</b> {@link #sync()} is {@code fsync} (data and metadata, so resizes and
 *       punched holes are durable too); a {@link WriteFlag#FUA} write is the write followed by
 *       {@code fdatasync}, which is not cheaper than {@code sync()}, so {@link Capability#FUA} is
 *       not claimed. {@link #close()} does not sync.</li>
 *   <li><b>No short reads.</b> The file must be at least {@link #size()} bytes; if something
 *       else truncated it, a read past its end throws an {@link IOException} saying so.</li>
 *   <li><b>Sparse files (Linux).</b> {@link #discard} and {@link #writeZeroes} with
 *       {@code mayUnmap} punch holes with {@code fallocate(PUNCH_HOLE|KEEP_SIZE)}, returning space
 *       to the host filesystem; {@code writeZeroes} without {@code mayUnmap} punches and then
 *       re-allocates ({@code fallocate} mode 0), so later writes cannot run out of space; and
 *       {@link #extents} asks {@code lseek(SEEK_DATA/SEEK_HOLE)}. Where the platform or the
 *       filesystem lacks them, the capabilities say so and the interface defaults apply (writing
 *       zeros, one data extent, discard as a no-op).</li>
 *   <li><b>Errors.</b> ENOSPC/EDQUOT/EFBIG become {@link NoSpaceException}; an interrupt of a
 *       thread blocked in I/O closes the JDK channel (and with it the OS lock), after which
 *       every operation throws {@link DeviceClosedException} carrying that cause: reopen it.</li>
 * </ul>
 *
 * <p>Design: data operations hold the read side of a {@link ReentrantReadWriteLock} for their
 * whole duration, so any number run in parallel (positional I/O needs no shared file position);
 * {@link #resize} and {@link #close} take the write side, so a resize never races a data
 * operation and the native descriptor is never closed under a running {@code fallocate}. The size
 * is cached (the exclusive lock keeps cooperating writers out) and changes only under the write
 * lock. Overlapping concurrent writes are as atomic as the kernel's page cache makes them: on
 * Linux a {@code pwrite} is atomic per page, hence per 512-byte sector.
 */
public final class FileDevice implements Device {

    /** Largest single read or write through a heap buffer (see {@link #readSome}). */
    private static final int MAX_HEAP_IO = 1 << 20;

    private final OpenFile file;
    private final String name;
    private final Capabilities capabilities;
    private final FileHoles holes;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile long size;
    private volatile boolean closed;
    /** Set when the channel was closed under us (an interrupt); every later call reports it. */
    private volatile IOException broken;

    private FileDevice(OpenFile file) throws IOException {
        this.file = file;
        this.name = file.path.toString();
        this.size = file.channel.size();
        this.holes = FileHoles.probe(file, size);
        Capabilities caps = file.readOnly ? Capabilities.of(Capability.READ_ONLY) : Capabilities.of(Capability.RESIZE);
        if (holes.canPunch()) {
            caps = caps.with(Capability.DISCARD, Capability.DISCARD_READS_ZEROES, Capability.WRITE_ZEROES,
                    Capability.WRITE_ZEROES_UNMAP);
        }
        if (holes.canSeekData()) {
            caps = caps.with(Capability.EXTENTS);
        }
        this.capabilities = caps;
    }

    /**
     * Creates a new sparse file of {@code size} bytes (all zeros, no blocks allocated) and opens
     * it for writing.
     *
     * @throws java.nio.file.FileAlreadyExistsException if {@code path} exists (never overwritten)
     * @throws IllegalArgumentException if {@code size} is negative or {@code path} null
     */
    public static FileDevice create(Path path, long size) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("create: path is null");
        }
        if (size < 0) {
            throw new IllegalArgumentException("create of '" + path + "': negative size " + size);
        }
        return open(OpenFile.acquire(path, false, size, true));
    }

    /**
     * Opens an existing file for reading and writing; its current length is the device size.
     *
     * @throws DeviceInUseException if this JVM or another process has it open
     * @throws java.nio.file.NoSuchFileException if it does not exist
     */
    public static FileDevice open(Path path) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("open: path is null");
        }
        return open(OpenFile.acquire(path, false, -1, true));
    }

    /**
     * Opens an existing file read-only under a shared lock: other read-only opens succeed, a
     * writer (here or in another process) is refused while this one is open, and vice versa.
     *
     * @throws DeviceInUseException if it is open for writing anywhere
     */
    public static FileDevice openReadOnly(Path path) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("openReadOnly: path is null");
        }
        return open(OpenFile.acquire(path, true, -1, true));
    }

    /**
     * Opens or creates ({@code createSize >= 0}) without the Linux system calls, as on a platform
     * without them: for tests of the portable fallback.
     */
    static FileDevice openPortable(Path path, boolean readOnly, long createSize) throws IOException {
        return open(OpenFile.acquire(path, readOnly, createSize, false));
    }

    private static FileDevice open(OpenFile file) throws IOException {
        try {
            return new FileDevice(file);
        } catch (IOException | RuntimeException e) {
            try {
                file.release();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The file this device reads and writes. */
    public Path path() {
        return file.path;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return size;
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        lock.readLock().lock();
        try {
            ensureOpen("read");
            Bounds.checkRange(this, "read", offset, dst.remaining(), size);
            long pos = offset;
            try {
                while (dst.hasRemaining()) {
                    int n = readSome(dst, pos);
                    if (n < 0) {
                        throw new IOException("read of '" + name + "' at offset " + pos + " hit the end of the file ("
                                + file.channel.size() + " bytes) inside the device size " + size
                                + ": the file was truncated by someone else");
                    }
                    pos += n;
                }
            } catch (ClosedChannelException e) {
                throw channelLost("read", e);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        lock.readLock().lock();
        try {
            writeLocked(src, offset);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        lock.readLock().lock();
        try {
            writeLocked(src, offset);
            if (flag == WriteFlag.FUA) {
                force(false, "FUA write");
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    private void writeLocked(ByteBuffer src, long offset) throws IOException {
        ensureWritable("write");
        Bounds.checkRange(this, "write", offset, src.remaining(), size);
        long pos = offset;
        int length = src.remaining();
        try {
            while (src.hasRemaining()) {
                pos += writeSome(src, pos);
            }
        } catch (ClosedChannelException e) {
            throw channelLost("write", e);
        } catch (IOException e) {
            throw mapNoSpace(e, "write of " + length + " bytes at offset " + offset);
        }
    }

    /**
     * One positional read. A heap buffer goes through a JDK temporary direct buffer as large as the
     * request, cached per thread; capping heap requests at {@link #MAX_HEAP_IO} keeps that cache
     * small when many threads do large reads.
     */
    private int readSome(ByteBuffer dst, long pos) throws IOException {
        if (dst.isDirect() || dst.remaining() <= MAX_HEAP_IO) {
            return file.channel.read(dst, pos);
        }
        int limit = dst.limit();
        dst.limit(dst.position() + MAX_HEAP_IO);
        try {
            return file.channel.read(dst, pos);
        } finally {
            dst.limit(limit);
        }
    }

    /** One positional write; heap buffers capped like {@link #readSome}. */
    private int writeSome(ByteBuffer src, long pos) throws IOException {
        if (src.isDirect() || src.remaining() <= MAX_HEAP_IO) {
            return file.channel.write(src, pos);
        }
        int limit = src.limit();
        src.limit(src.position() + MAX_HEAP_IO);
        try {
            return file.channel.write(src, pos);
        } finally {
            src.limit(limit);
        }
    }

    @Override
    public void sync() throws IOException {
        lock.readLock().lock();
        try {
            ensureOpen("sync");
            force(true, "sync");
        } finally {
            lock.readLock().unlock();
        }
    }

    private void force(boolean metadata, String operation) throws IOException {
        if (file.readOnly) {
            return;
        }
        try {
            file.channel.force(metadata);
        } catch (ClosedChannelException e) {
            throw channelLost(operation, e);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        lock.readLock().lock();
        try {
            ensureWritable("write-zeroes");
            Bounds.checkRange(this, "write-zeroes", offset, length, size);
            if (length == 0) {
                return;
            }
            if (holes.canPunch() && holes.punch("write-zeroes", offset, length)) {
                // Punched: reads as zeros. Without mayUnmap, allocate again so later writes cannot
                // run out of space; if the filesystem cannot, write zeros to the range instead.
                if (mayUnmap || holes.allocate("write-zeroes", offset, length)) {
                    return;
                }
            }
            writeZeroBuffers(offset, length);
        } finally {
            lock.readLock().unlock();
        }
    }

    private void writeZeroBuffers(long offset, long length) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(length, 1 << 20));
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(zeros.capacity(), length - done);
            zeros.clear().limit(n);
            writeLocked(zeros, offset + done);
            done += n;
        }
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        lock.readLock().lock();
        try {
            ensureWritable("discard");
            Bounds.checkRange(this, "discard", offset, length, size);
            if (length > 0 && holes.canPunch()) {
                holes.punch("discard", offset, length);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        lock.readLock().lock();
        try {
            ensureOpen("extents");
            Bounds.checkRange(this, "extents", offset, length, size);
            if (length == 0) {
                return List.of();
            }
            if (!holes.canSeekData()) {
                return List.of(new Extent(offset, length, Extent.Type.DATA));
            }
            return holes.extents(offset, offset + length);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Grows (sparsely: the new range is a hole that reads as zeros) or shrinks the file. The new
     * size is durable after the next {@link #sync()}.
     *
     * @throws ReadOnlyDeviceException on a read-only open
     * @throws IllegalArgumentException if {@code newSize} is negative
     */
    @Override
    public void resize(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + name + "' to negative size " + newSize);
        }
        lock.writeLock().lock();
        try {
            ensureWritable("resize");
            try {
                file.file.setLength(newSize);
            } catch (ClosedChannelException e) {
                throw channelLost("resize", e);
            } catch (IOException e) {
                throw mapNoSpace(e, "resize from " + size + " to " + newSize + " bytes");
            }
            size = newSize;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Releases the lock and the file. Does not sync. Idempotent. */
    @Override
    public void close() throws IOException {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            file.release();
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "FileDevice[" + name + (file.readOnly ? ", read-only" : "") + ", " + size + " bytes]";
    }

    private void ensureOpen(String operation) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name, operation);
        }
        IOException cause = broken;
        if (cause != null) {
            throw new DeviceClosedException(name, operation + " (the file channel was closed by an interrupt; reopen "
                    + "the device)", cause);
        }
    }

    private void ensureWritable(String operation) throws IOException {
        ensureOpen(operation);
        if (file.readOnly) {
            throw new ReadOnlyDeviceException(name, operation);
        }
    }

    private DeviceClosedException channelLost(String operation, ClosedChannelException e) {
        if (!closed && broken == null) {
            broken = e;
        }
        return new DeviceClosedException(name, operation, e);
    }

    private IOException mapNoSpace(IOException e, String request) {
        String m = String.valueOf(e.getMessage());
        if (m.contains("No space left") || m.contains("Disk quota exceeded") || m.contains("File too large")) {
            return new NoSpaceException(name, "no space on '" + name + "' for " + request + ": " + m, e);
        }
        return e;
    }
}

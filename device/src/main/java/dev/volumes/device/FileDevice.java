package dev.volumes.device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;
import java.util.ArrayList;
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

    private final OpenFile file;
    private final String name;
    private final Capabilities capabilities;
    private final boolean canPunch;
    private final boolean canSeekData;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile long size;
    private volatile boolean closed;
    /** Set when the channel was closed under us (an interrupt); every later call reports it. */
    private volatile IOException broken;

    private FileDevice(OpenFile file) throws IOException {
        this.file = file;
        this.name = file.path.toString();
        this.size = file.channel.size();
        LinuxFiles linux = file.nativeFd >= 0 ? LinuxFiles.load().orElse(null) : null;
        this.canPunch = linux != null && !file.readOnly && probePunch(linux, file.nativeFd, size);
        this.canSeekData = linux != null && probeSeekData(linux, file.nativeFd);
        Capabilities caps = file.readOnly ? Capabilities.of(Capability.READ_ONLY) : Capabilities.of(Capability.RESIZE);
        if (canPunch) {
            caps = caps.with(Capability.DISCARD, Capability.DISCARD_READS_ZEROES, Capability.WRITE_ZEROES,
                    Capability.WRITE_ZEROES_UNMAP);
        }
        if (canSeekData) {
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
        return open(OpenFile.acquire(path, false, size));
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
        return open(OpenFile.acquire(path, false, -1));
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
        return open(OpenFile.acquire(path, true, -1));
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
                    int n = file.channel.read(dst, pos);
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
                pos += file.channel.write(src, pos);
            }
        } catch (ClosedChannelException e) {
            throw channelLost("write", e);
        } catch (IOException e) {
            throw mapNoSpace(e, "write of " + length + " bytes at offset " + offset);
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
            if (canPunch && punch("write-zeroes", offset, length)) {
                if (!mayUnmap) {
                    int err = linux().fallocate(file.nativeFd, 0, offset, length);
                    if (err == 0) {
                        return;
                    }
                    if (!LinuxFiles.unsupported(err)) {
                        throw nativeFailure("write-zeroes (allocate)", offset, length, err);
                    }
                    // Cannot preallocate here: fall through and write zeros to keep it allocated.
                } else {
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
            if (length > 0 && canPunch) {
                punch("discard", offset, length);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Punches a hole; false if the filesystem turned out not to support it for this range. */
    private boolean punch(String operation, long offset, long length) throws IOException {
        int err = linux().fallocate(file.nativeFd, LinuxFiles.FALLOC_FL_PUNCH_HOLE | LinuxFiles.FALLOC_FL_KEEP_SIZE,
                offset, length);
        if (err == 0) {
            return true;
        }
        if (LinuxFiles.unsupported(err)) {
            return false;
        }
        throw nativeFailure(operation, offset, length, err);
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
            if (!canSeekData) {
                return List.of(new Extent(offset, length, Extent.Type.DATA));
            }
            return seekExtents(offset, offset + length);
        } finally {
            lock.readLock().unlock();
        }
    }

    private List<Extent> seekExtents(long offset, long end) throws IOException {
        LinuxFiles linux = linux();
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        while (pos < end) {
            long data = linux.lseek(file.nativeFd, pos, LinuxFiles.SEEK_DATA);
            if (data == -LinuxFiles.ENXIO) {
                data = end; // no data at or after pos: the rest is a hole
            } else if (data < 0) {
                throw nativeFailure("extents (SEEK_DATA)", pos, end - pos, (int) -data);
            }
            if (data > pos) {
                long holeEnd = Math.min(data, end);
                add(out, pos, holeEnd - pos, Extent.Type.HOLE);
                pos = holeEnd;
                if (pos >= end) {
                    break;
                }
            }
            long hole = linux.lseek(file.nativeFd, pos, LinuxFiles.SEEK_HOLE);
            if (hole < 0) {
                throw nativeFailure("extents (SEEK_HOLE)", pos, end - pos, (int) -hole);
            }
            // A concurrent writer may fill the hole between the two calls; never report an empty run.
            long dataEnd = Math.min(Math.max(hole, pos + 1), end);
            add(out, pos, dataEnd - pos, Extent.Type.DATA);
            pos = dataEnd;
        }
        return out;
    }

    private static void add(List<Extent> out, long offset, long length, Extent.Type type) {
        int last = out.size() - 1;
        if (last >= 0 && out.get(last).type() == type) {
            Extent prev = out.get(last);
            out.set(last, new Extent(prev.offset(), prev.length() + length, type));
        } else {
            out.add(new Extent(offset, length, type));
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

    private LinuxFiles linux() {
        return LinuxFiles.load().orElseThrow();
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

    private IOException nativeFailure(String operation, long offset, long length, int err) {
        String message = operation + " of " + length + " bytes at offset " + offset + " on '" + name + "' failed: "
                + LinuxFiles.errnoName(err);
        if (err == LinuxFiles.ENOSPC || err == LinuxFiles.EDQUOT || err == LinuxFiles.EFBIG) {
            return new NoSpaceException(name, message, null);
        }
        return new IOException(message);
    }

    private static boolean probePunch(LinuxFiles linux, int fd, long size) {
        // Punching past the end of the file changes nothing but proves the filesystem supports it.
        return linux.fallocate(fd, LinuxFiles.FALLOC_FL_PUNCH_HOLE | LinuxFiles.FALLOC_FL_KEEP_SIZE, size, 4096) == 0;
    }

    private static boolean probeSeekData(LinuxFiles linux, int fd) {
        long r = linux.lseek(fd, 0, LinuxFiles.SEEK_DATA);
        return r >= 0 || r == -LinuxFiles.ENXIO;
    }
}

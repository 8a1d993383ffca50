package dev.volumes.device;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sparse-file operations of a {@link FileDevice} on Linux: hole punching and allocation with
 * {@code fallocate(2)}, allocation maps with {@code lseek(SEEK_DATA/SEEK_HOLE)}, on the native
 * descriptor of an {@link OpenFile}.
 *
 * <p>Design: immutable; what the filesystem supports is probed once, at open, without changing
 * the file (a punch past its end, a {@code SEEK_DATA} at 0). The caller (FileDevice) guarantees
 * the descriptor stays open for every call by holding its read lock; this class holds no lock.
 */
final class FileHoles {

    private final LinuxFiles linux;
    private final int fd;
    private final String name;
    private final boolean canPunch;
    private final boolean canSeekData;

    private FileHoles(LinuxFiles linux, int fd, String name, boolean canPunch, boolean canSeekData) {
        this.linux = linux;
        this.fd = fd;
        this.name = name;
        this.canPunch = canPunch;
        this.canSeekData = canSeekData;
    }

    /** Probes what the file's filesystem supports; nothing is supported without a native descriptor. */
    static FileHoles probe(OpenFile file, long size) {
        LinuxFiles linux = file.nativeFd >= 0 ? LinuxFiles.load().orElse(null) : null;
        String name = file.path.toString();
        if (linux == null) {
            return new FileHoles(null, -1, name, false, false);
        }
        // Punching past the end of the file changes nothing but proves the filesystem supports it.
        boolean punch = !file.readOnly && linux.fallocate(file.nativeFd,
                LinuxFiles.FALLOC_FL_PUNCH_HOLE | LinuxFiles.FALLOC_FL_KEEP_SIZE, size, 4096) == 0;
        long seek = linux.lseek(file.nativeFd, 0, LinuxFiles.SEEK_DATA);
        boolean seekData = seek >= 0 || seek == -LinuxFiles.ENXIO;
        return new FileHoles(linux, file.nativeFd, name, punch, seekData);
    }

    /** Whether holes can be punched (and ranges re-allocated). */
    boolean canPunch() {
        return canPunch;
    }

    /** Whether {@link #extents} reports real holes. */
    boolean canSeekData() {
        return canSeekData;
    }

    /**
     * Deallocates the range (it then reads as zeros).
     *
     * @return false if the filesystem refused it as unsupported (nothing changed)
     * @throws IOException on any other failure
     */
    boolean punch(String operation, long offset, long length) throws IOException {
        int err = linux.fallocate(fd, LinuxFiles.FALLOC_FL_PUNCH_HOLE | LinuxFiles.FALLOC_FL_KEEP_SIZE, offset, length);
        if (err == 0) {
            return true;
        }
        if (LinuxFiles.unsupported(err)) {
            return false;
        }
        throw failure(operation, offset, length, err);
    }

    /**
     * Allocates the holes in the range ({@code fallocate} mode 0; allocated-but-unwritten blocks
     * read as zeros).
     *
     * @return false if the filesystem refused it as unsupported
     * @throws NoSpaceException if the filesystem is full
     */
    boolean allocate(String operation, long offset, long length) throws IOException {
        int err = linux.fallocate(fd, 0, offset, length);
        if (err == 0) {
            return true;
        }
        if (LinuxFiles.unsupported(err)) {
            return false;
        }
        throw failure(operation + " (allocate)", offset, length, err);
    }

    /** The allocation map of {@code [offset, end)}: HOLE where SEEK_DATA skips, DATA elsewhere. */
    List<Extent> extents(long offset, long end) throws IOException {
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        while (pos < end) {
            long data = linux.lseek(fd, pos, LinuxFiles.SEEK_DATA);
            if (data == -LinuxFiles.ENXIO) {
                data = end; // no data at or after pos: the rest is a hole
            } else if (data < 0) {
                throw failure("extents (SEEK_DATA)", pos, end - pos, (int) -data);
            }
            if (data > pos) {
                long holeEnd = Math.min(data, end);
                Extent.append(out, pos, holeEnd - pos, Extent.Type.HOLE);
                pos = holeEnd;
                if (pos >= end) {
                    break;
                }
            }
            long hole = linux.lseek(fd, pos, LinuxFiles.SEEK_HOLE);
            if (hole < 0) {
                throw failure("extents (SEEK_HOLE)", pos, end - pos, (int) -hole);
            }
            // A concurrent writer may fill the hole between the two calls; never report an empty run.
            long dataEnd = Math.min(Math.max(hole, pos + 1), end);
            Extent.append(out, pos, dataEnd - pos, Extent.Type.DATA);
            pos = dataEnd;
        }
        return out;
    }

    private IOException failure(String operation, long offset, long length, int err) {
        String message = operation + " of " + length + " bytes at offset " + offset + " on '" + name + "' failed: "
                + LinuxFiles.errnoName(err);
        if (err == LinuxFiles.ENOSPC || err == LinuxFiles.EDQUOT || err == LinuxFiles.EFBIG) {
            return new NoSpaceException(name, message, null);
        }
        return new IOException(message);
    }
}

package dev.volumes.device;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One open file under an OS lock, shared by the {@link FileDevice}s of this JVM that use it.
 *
 * <p>Design: POSIX record locks belong to the <em>process</em>, and closing <em>any</em>
 * descriptor of a file drops every lock the process holds on it. A second
 * {@code FileChannel.open} + {@code close} of a file this JVM already has locked would therefore
 * silently release the first device's lock. So, as the one deliberate piece of static mutable
 * state in this module, {@link #REGISTRY} maps each open file's identity (device + inode, read
 * from the path without opening it) to its {@code OpenFile}, and every open checks it
 * <em>before</em> touching the file: a writable open of a registered file, or any open of a file
 * registered writable, is refused without opening a descriptor; read-only opens share one
 * {@code OpenFile} (channel, shared lock, native descriptor) with a reference count. All registry
 * changes happen under the registry's monitor; opening is rare, so that is not a bottleneck.
 *
 * <p>The channel comes from a {@link RandomAccessFile} so that growing the file
 * ({@code setLength}) uses the same descriptor. The native descriptor (Linux only, for
 * {@code fallocate} and {@code lseek}) is a second {@code open(2)} of the same path, verified to
 * be the same inode, closed only when the last user releases the file.
 */
final class OpenFile {

    private static final Map<Object, OpenFile> REGISTRY = new HashMap<>();

    final Path path;
    final boolean readOnly;
    final RandomAccessFile file;
    final FileChannel channel;
    /** The native descriptor for fallocate/lseek, or -1 when unavailable. */
    final int nativeFd;

    private final Object key;
    private final FileLock lock;
    private int references = 1;

    private OpenFile(Path path, boolean readOnly, Object key, RandomAccessFile file, FileLock lock, int nativeFd) {
        this.path = path;
        this.readOnly = readOnly;
        this.key = key;
        this.file = file;
        this.channel = file.getChannel();
        this.lock = lock;
        this.nativeFd = nativeFd;
    }

    /**
     * Opens (or, for {@code createSize >= 0}, creates) {@code path} under an exclusive lock, or a
     * shared lock when {@code readOnly}.
     *
     * @param nativeAccess whether to open the native descriptor (false only in tests of the
     *     portable fallback)
     * @throws DeviceInUseException if this process or another one holds a conflicting lock
     */
    static OpenFile acquire(Path path, boolean readOnly, long createSize, boolean nativeAccess) throws IOException {
        String name = path.toString();
        synchronized (REGISTRY) {
            if (createSize >= 0) {
                try {
                    Files.createFile(path);
                } catch (FileAlreadyExistsException e) {
                    throw new FileAlreadyExistsException(name, null,
                            "refusing to create a device over an existing file");
                }
            }
            Object key;
            try {
                key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(name, null, "no such file to open as a device");
            }
            if (key != null) {
                OpenFile existing = REGISTRY.get(key);
                if (existing != null) {
                    if (readOnly && existing.readOnly) {
                        existing.references++;
                        return existing;
                    }
                    throw new DeviceInUseException(name, "'" + name + "' is in use: already open "
                            + (existing.readOnly ? "read-only" : "for writing") + " in this process (pid "
                            + ProcessHandle.current().pid() + "), cannot open it "
                            + (readOnly ? "read-only" : "for writing"));
                }
            }
            RandomAccessFile file = new RandomAccessFile(path.toFile(), readOnly ? "r" : "rw");
            int nativeFd = -1;
            try {
                FileLock lock;
                try {
                    lock = file.getChannel().tryLock(0, Long.MAX_VALUE, readOnly);
                } catch (OverlappingFileLockException e) {
                    // Locked through some other channel of this JVM that is not a FileDevice.
                    throw new DeviceInUseException(name, "'" + name + "' is in use: locked by another channel in "
                            + "this process (pid " + ProcessHandle.current().pid() + ")", e);
                }
                if (lock == null) {
                    throw new DeviceInUseException(name, "'" + name + "' is in use: " + holders(path)
                            + "; cannot open it " + (readOnly ? "read-only" : "for writing"));
                }
                if (createSize > 0) {
                    file.setLength(createSize);
                }
                nativeFd = nativeAccess ? openNative(path, readOnly, key) : -1;
                OpenFile opened = new OpenFile(path, readOnly, key, file, lock, nativeFd);
                if (key != null) {
                    REGISTRY.put(key, opened);
                }
                return opened;
            } catch (IOException | RuntimeException | Error e) {
                if (nativeFd >= 0) {
                    LinuxFiles.load().orElseThrow().close(nativeFd);
                }
                try {
                    file.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                if (createSize >= 0) {
                    try {
                        Files.deleteIfExists(path);
                    } catch (IOException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                throw e;
            }
        }
    }

    /** The native descriptor of the same inode, or -1 if not on Linux or it cannot be opened. */
    private static int openNative(Path path, boolean readOnly, Object key) {
        LinuxFiles linux = LinuxFiles.load().orElse(null);
        if (linux == null) {
            return -1;
        }
        int fd;
        try {
            fd = linux.open(path, !readOnly);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        try {
            Object opened = Files.readAttributes(Path.of("/proc/self/fd/" + fd), BasicFileAttributes.class).fileKey();
            if (key != null && Objects.equals(opened, key)) {
                return fd;
            }
        } catch (IOException | RuntimeException e) {
            // fall through: cannot prove it is the same file
        }
        linux.close(fd);
        return -1;
    }

    /**
     * Releases one reference; the last one closes the native descriptor, drops the lock and
     * closes the channel.
     */
    void release() throws IOException {
        synchronized (REGISTRY) {
            if (--references > 0) {
                return;
            }
            if (key != null) {
                REGISTRY.remove(key, this);
            }
            IOException failure = null;
            if (nativeFd >= 0) {
                int err = LinuxFiles.load().orElseThrow().close(nativeFd);
                if (err != 0) {
                    failure = new IOException("close of the native descriptor of '" + path + "' failed: "
                            + LinuxFiles.errnoName(err));
                }
            }
            try {
                if (lock.isValid() && channel.isOpen()) {
                    lock.release();
                }
            } catch (IOException e) {
                failure = addTo(failure, e);
            }
            try {
                file.close();
            } catch (IOException e) {
                failure = addTo(failure, e);
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    private static IOException addTo(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    /**
     * Who holds locks on {@code path}, from {@code /proc/locks} (Linux), e.g. "locked for writing
     * by process 1234"; a generic phrase where that is unknown.
     */
    static String holders(Path path) {
        List<String> found = new ArrayList<>();
        try {
            long ino = ((Number) Files.getAttribute(path, "unix:ino")).longValue();
            for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
                // "2: POSIX  ADVISORY  WRITE 5278 fe:00:2146566 0 EOF" (OFD locks show pid -1)
                String[] f = line.trim().split("\\s+");
                if (f.length < 6 || f[1].equals("->")) {
                    continue;
                }
                String[] dev = f[5].split(":");
                if (dev.length == 3 && dev[2].equals(Long.toString(ino))) {
                    String mode = f[3].equals("WRITE") ? "for writing" : "for reading";
                    String who = f[4].equals("-1") ? "an unknown process" : "process " + f[4];
                    found.add("locked " + mode + " by " + who);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or /proc unavailable: fall through to the generic message.
        }
        if (found.isEmpty()) {
            return "locked by another process";
        }
        return String.join(", ", found.stream().distinct().toList());
    }
}

package dev.volumes.device;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * The few Linux system calls {@link FileDevice} needs and the JDK does not offer, called through
 * the FFM API (no JNI): {@code open(2)}, {@code close(2)}, {@code fallocate(2)} and
 * {@code lseek(2)} with {@code SEEK_DATA}/{@code SEEK_HOLE}.
 *
 * <p>Design: {@link #load()} returns an instance only on Linux when every symbol resolves; the
 * method handles are immutable, so one instance is safe for concurrent use. Each call captures
 * {@code errno} with {@link Linker.Option#captureCallState} into a per-call confined arena and
 * returns it to the caller instead of throwing, because most callers turn particular errno values
 * (EOPNOTSUPP, ENXIO) into a fallback rather than a failure. The constants are the Linux generic
 * ABI values, identical on x86-64 and AArch64.
 */
final class LinuxFiles {

    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;

    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;

    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;

    static final int EINTR = 4;
    static final int ENXIO = 6;
    static final int EBADF = 9;
    static final int ENODEV = 19;
    static final int EINVAL = 22;
    static final int EFBIG = 27;
    static final int ENOSPC = 28;
    static final int ENOSYS = 38;
    static final int EOPNOTSUPP = 95;
    static final int EDQUOT = 122;

    private static final Optional<LinuxFiles> INSTANCE = tryLoad();

    private final MethodHandle open;
    private final MethodHandle close;
    private final MethodHandle fallocate;
    private final MethodHandle lseek;
    private final StructLayout stateLayout;
    private final VarHandle errno;

    private LinuxFiles(Linker linker, SymbolLookup lookup) {
        Linker.Option errnoOption = Linker.Option.captureCallState("errno");
        this.stateLayout = Linker.Option.captureStateLayout();
        this.errno = stateLayout.varHandle(MemoryLayout.PathElement.groupElement("errno"));
        this.open = linker.downcallHandle(lookup.find("open").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT),
                errnoOption, Linker.Option.firstVariadicArg(2));
        this.close = linker.downcallHandle(lookup.find("close").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), errnoOption);
        this.fallocate = linker.downcallHandle(lookup.find("fallocate").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                errnoOption);
        this.lseek = linker.downcallHandle(lookup.find("lseek").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT),
                errnoOption);
    }

    /** The system calls, or empty when not on Linux or when they cannot be bound. */
    static Optional<LinuxFiles> load() {
        return INSTANCE;
    }

    private static Optional<LinuxFiles> tryLoad() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")) {
            return Optional.empty();
        }
        try {
            Linker linker = Linker.nativeLinker();
            return Optional.of(new LinuxFiles(linker, linker.defaultLookup()));
        } catch (RuntimeException | Error e) {
            // No native access (--enable-native-access denied), missing symbols, exotic ABI.
            return Optional.empty();
        }
    }

    /**
     * Opens {@code path} with {@code open(2)} ({@code O_CLOEXEC} added).
     *
     * @return the file descriptor
     * @throws IOException naming the path and errno on failure
     */
    int open(Path path, boolean writable) throws IOException {
        int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(stateLayout);
            MemorySegment cPath = arena.allocateFrom(path.toString());
            int fd;
            int err;
            do {
                fd = (int) open.invokeExact(state, cPath, flags, 0);
                err = fd < 0 ? errno(state) : 0;
            } while (fd < 0 && err == EINTR);
            if (fd < 0) {
                throw new IOException("open(" + path + ") failed: " + errnoName(err));
            }
            return fd;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("open downcall failed", t);
        }
    }

    /** Closes {@code fd}; returns 0 or the errno. */
    int close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(stateLayout);
            int r = (int) close.invokeExact(state, fd);
            return r == 0 ? 0 : errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("close downcall failed", t);
        }
    }

    /** {@code fallocate(fd, mode, offset, length)}, retried on EINTR; returns 0 or the errno. */
    int fallocate(int fd, int mode, long offset, long length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(stateLayout);
            while (true) {
                int r = (int) fallocate.invokeExact(state, fd, mode, offset, length);
                if (r == 0) {
                    return 0;
                }
                int err = errno(state);
                if (err != EINTR) {
                    return err;
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("fallocate downcall failed", t);
        }
    }

    /** {@code lseek(fd, offset, whence)}: the resulting offset, or {@code -errno}. */
    long lseek(int fd, long offset, int whence) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(stateLayout);
            long r = (long) lseek.invokeExact(state, fd, offset, whence);
            return r >= 0 ? r : -errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("lseek downcall failed", t);
        }
    }

    private int errno(MemorySegment state) {
        return (int) errno.get(state, 0L);
    }

    /** A readable name for the errno values this class deals with, e.g. "EOPNOTSUPP (95)". */
    static String errnoName(int err) {
        String name = switch (err) {
            case EINTR -> "EINTR";
            case ENXIO -> "ENXIO";
            case EBADF -> "EBADF";
            case ENODEV -> "ENODEV";
            case EINVAL -> "EINVAL";
            case EFBIG -> "EFBIG";
            case ENOSPC -> "ENOSPC";
            case ENOSYS -> "ENOSYS";
            case EOPNOTSUPP -> "EOPNOTSUPP";
            case EDQUOT -> "EDQUOT";
            case 1 -> "EPERM";
            case 2 -> "ENOENT";
            case 5 -> "EIO";
            case 13 -> "EACCES";
            case 21 -> "EISDIR";
            default -> "errno";
        };
        return name + " (" + err + ")";
    }

    /** Whether {@code err} says the filesystem or kernel does not implement the request. */
    static boolean unsupported(int err) {
        return err == EOPNOTSUPP || err == ENOSYS || err == ENODEV;
    }
}

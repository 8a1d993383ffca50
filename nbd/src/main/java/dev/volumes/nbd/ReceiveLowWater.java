package dev.volumes.nbd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Method;
import java.nio.channels.SocketChannel;
import java.util.Locale;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The TCP receive low-water mark ({@code SO_RCVLOWAT}) of one socket, on Linux.
 *
 * <p>Why: a virtual thread reading a large write payload parks whenever the socket is empty and
 * is woken (poller, scheduler) as soon as any byte arrives; when the reader is faster than the
 * client, one 1 MiB payload costs several park/wake cycles (measured: 5 epoll registrations and
 * 13 futex calls per request, where nbdkit's blocking read needs none). With the mark raised to
 * the bytes still missing, the kernel reports the socket readable only when they are all there:
 * one wake-up per payload. A non-blocking read still returns whatever has arrived, and the mark
 * never exceeds the bytes the client still owes, so it cannot stall a read.
 *
 * <p>The descriptor is not public API: it is read through {@code sun.nio.ch.SelChImpl}, which
 * needs {@code --add-exports java.base/sun.nio.ch=ALL-UNNAMED}, and {@code setsockopt} is called
 * through the FFM API, which needs native access. Without either, or off Linux, {@link #of}
 * returns null and reads work as before.
 *
 * <p>A descriptor number is reused as soon as it is closed, so the mark must never be set after
 * the channel closed: a raised mark on someone else's socket would hold its reads back. {@link
 * #set} and {@link #close} therefore run under one lock and {@code set} checks that the channel
 * is still open. (The JDK also closes a channel when a thread blocked in its I/O is interrupted,
 * outside this lock; the nbd code never interrupts I/O threads.)
 */
final class ReceiveLowWater {

    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVLOWAT = 18;

    private static final Method FD_VAL;
    private static final MethodHandle SETSOCKOPT;

    static {
        Method fdVal = null;
        MethodHandle setsockopt = null;
        if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
                && !"false".equals(System.getProperty("volumes.nbd.rcvlowat"))) {
            try {
                Class<?> selCh = Class.forName("sun.nio.ch.SelChImpl");
                if (!selCh.getModule().isExported("sun.nio.ch", ReceiveLowWater.class.getModule())) {
                    throw new IllegalAccessException("java.base does not export sun.nio.ch to us");
                }
                fdVal = selCh.getMethod("getFDVal");
                Linker linker = Linker.nativeLinker();
                setsockopt = linker.downcallHandle(linker.defaultLookup().find("setsockopt").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                                ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            } catch (ReflectiveOperationException | RuntimeException | Error e) {
                fdVal = null;
                setsockopt = null;
            }
        }
        FD_VAL = fdVal;
        SETSOCKOPT = setsockopt;
    }

    private final SocketChannel channel;
    private final int fd;
    private final MemorySegment value = Arena.ofAuto().allocate(ValueLayout.JAVA_INT);
    private final ReentrantLock lock = new ReentrantLock();
    private int current = 1;

    private ReceiveLowWater(SocketChannel channel, int fd) {
        this.channel = channel;
        this.fd = fd;
    }

    /** The mark of {@code channel}'s socket, or null where it cannot be set. */
    static ReceiveLowWater of(SocketChannel channel) {
        if (SETSOCKOPT == null) {
            return null;
        }
        try {
            return new ReceiveLowWater(channel, (int) FD_VAL.invoke(channel));
        } catch (ReflectiveOperationException | RuntimeException e) { // not a JDK socket channel
            return null;
        }
    }

    /** The mark now set (1 = the kernel default). */
    int current() {
        return current;
    }

    /**
     * Sets the mark (called by the one thread reading the channel). Does nothing once the channel
     * is closed. If lowering it fails, the mark goes back to 1 instead (a mark left above what the
     * peer still owes could hold the next read back); a failed raise is ignored.
     */
    void set(int bytes) {
        int v = Math.max(1, bytes);
        if (v == current) {
            return;
        }
        lock.lock();
        try {
            if (!channel.isOpen()) {
                return;
            }
            if (setsockopt(v)) {
                current = v;
            } else if (v < current && setsockopt(1)) {
                current = 1;
            }
        } finally {
            lock.unlock();
        }
    }

    private boolean setsockopt(int v) {
        value.set(ValueLayout.JAVA_INT, 0, v);
        try {
            return (int) SETSOCKOPT.invokeExact(fd, SOL_SOCKET, SO_RCVLOWAT, value, 4) == 0;
        } catch (Throwable e) {
            return false;
        }
    }

    /** Closes the channel; no mark is set afterwards (see the class comment). */
    void close() throws IOException {
        lock.lock();
        try {
            channel.close();
        } finally {
            lock.unlock();
        }
    }
}

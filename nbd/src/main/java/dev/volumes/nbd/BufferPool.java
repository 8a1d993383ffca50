package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers for request payloads and read replies, recycled by power-of-two size class.
 *
 * <p>Why: socket and file channels copy heap buffers through a temporary direct buffer on every
 * call, which for megabyte payloads costs an allocation and a copy per request. Buffers handed
 * out here are direct, so the bytes go from the socket to the Device and back without that copy.
 * Thread-safe and lock-free. Idle buffers kept are capped at {@code maxIdleBytes}; in-flight
 * buffers are already bounded by the server's byte budgets, so total native memory stays within
 * budget + cap.
 */
final class BufferPool {

    private static final int MIN_SHIFT = 12; // 4 KiB
    private static final int MAX_SHIFT = 25; // 32 MiB; larger requests get an unpooled buffer

    private final ConcurrentLinkedQueue<ByteBuffer>[] classes;
    private final long maxIdleBytes;
    private final AtomicLong idleBytes = new AtomicLong();

    @SuppressWarnings("unchecked")
    BufferPool(long maxIdleBytes) {
        this.maxIdleBytes = maxIdleBytes;
        this.classes = new ConcurrentLinkedQueue[MAX_SHIFT - MIN_SHIFT + 1];
        for (int i = 0; i < classes.length; i++) {
            classes[i] = new ConcurrentLinkedQueue<>();
        }
    }

    /** A direct buffer with position 0 and limit {@code size}; contents are arbitrary. */
    ByteBuffer take(int size) {
        int shift = shiftFor(size);
        if (shift > MAX_SHIFT) {
            return ByteBuffer.allocateDirect(size);
        }
        ByteBuffer b = classes[shift - MIN_SHIFT].poll();
        if (b == null) {
            b = ByteBuffer.allocateDirect(1 << shift);
        } else {
            idleBytes.addAndGet(-b.capacity());
        }
        return b.clear().limit(size);
    }

    /** Returns a buffer from {@link #take}; the caller must not use it afterwards. Null is ignored. */
    void give(ByteBuffer b) {
        if (b == null || !b.isDirect()) {
            return;
        }
        int cap = b.capacity();
        int shift = Integer.numberOfTrailingZeros(cap);
        if (Integer.bitCount(cap) != 1 || shift < MIN_SHIFT || shift > MAX_SHIFT) {
            return;
        }
        if (idleBytes.addAndGet(cap) > maxIdleBytes) {
            idleBytes.addAndGet(-cap);
            return; // dropped: the GC frees it
        }
        classes[shift - MIN_SHIFT].offer(b);
    }

    private static int shiftFor(int size) {
        if (size <= 1 << MIN_SHIFT) {
            return MIN_SHIFT;
        }
        return 32 - Integer.numberOfLeadingZeros(size - 1);
    }
}

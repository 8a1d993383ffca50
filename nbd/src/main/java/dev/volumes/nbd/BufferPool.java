package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;

/**
 * Direct buffers for request payloads and read replies, recycled by size class.
 *
 * <p>Why: socket and file channels copy heap buffers through a temporary direct buffer on every
 * call, which for megabyte payloads costs an allocation and a copy per request. Buffers handed
 * out here are direct, so the bytes go from the socket to the Device and back without that copy.
 *
 * <p>Size classes: 4 KiB, then four classes per power of two (1.25, 1.5, 1.75 and 2 × 2^k), so a
 * buffer is at most 25 % larger than asked (power-of-two classes wasted up to 2×); sizes above
 * 32 MiB are allocated exactly and not pooled. {@link #capacity} tells the caller the native
 * bytes a {@link #take} will hold, and the server reserves exactly that from its in-flight
 * budgets, so accounting matches what is really allocated. Idle buffers kept are capped at
 * {@code maxIdleBytes}: native memory stays within budget + cap. Thread-safe and lock-free.
 */
final class BufferPool {

    private static final int MIN_SHIFT = 12; // 4 KiB
    private static final int MAX_SHIFT = 25; // 32 MiB; larger requests get an unpooled buffer
    private static final int MIN = 1 << MIN_SHIFT;
    private static final int MAX = 1 << MAX_SHIFT;

    private final ConcurrentLinkedQueue<ByteBuffer>[] classes;
    private final long maxIdleBytes;
    private final AtomicLong idleBytes = new AtomicLong();
    private final IntFunction<ByteBuffer> allocator;

    BufferPool(long maxIdleBytes) {
        this(maxIdleBytes, ByteBuffer::allocateDirect);
    }

    /** With an allocator of direct buffers (tests inject failures here). */
    @SuppressWarnings("unchecked")
    BufferPool(long maxIdleBytes, IntFunction<ByteBuffer> allocator) {
        this.maxIdleBytes = maxIdleBytes;
        this.allocator = allocator;
        this.classes = new ConcurrentLinkedQueue[index(MAX) + 1];
        for (int i = 0; i < classes.length; i++) {
            classes[i] = new ConcurrentLinkedQueue<>();
        }
    }

    /** The capacity (native bytes) of the buffer {@link #take}{@code (size)} returns; 0 for 0. */
    static int capacity(int size) {
        if (size <= 0) {
            return 0;
        }
        if (size <= MIN) {
            return MIN;
        }
        if (size > MAX) {
            return size;
        }
        int k = 31 - Integer.numberOfLeadingZeros(size - 1); // 2^k < size <= 2^(k+1), k >= 12
        int step = 1 << (k - 2);
        return (size + step - 1) & -step;
    }

    /** Pool slot of a pooled capacity (a value {@link #capacity} returns, 4 KiB .. 32 MiB). */
    private static int index(int capacity) {
        if (capacity == MIN) {
            return 0;
        }
        int k = 31 - Integer.numberOfLeadingZeros(capacity - 1);
        return 1 + (k - MIN_SHIFT) * 4 + (capacity >> (k - 2)) - 5;
    }

    /**
     * A buffer with position 0, limit {@code size} and capacity {@link #capacity}{@code (size)};
     * direct unless empty; contents are arbitrary.
     *
     * @throws OutOfMemoryError if direct memory is exhausted
     */
    ByteBuffer take(int size) {
        if (size <= 0) {
            return ByteBuffer.allocate(0); // nothing to hold; give() ignores heap buffers
        }
        int cap = capacity(size);
        if (cap > MAX) {
            return allocator.apply(cap);
        }
        ByteBuffer b = classes[index(cap)].poll();
        if (b == null) {
            b = allocator.apply(cap);
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
        if (cap < MIN || cap > MAX || capacity(cap) != cap) {
            return;
        }
        if (idleBytes.addAndGet(cap) > maxIdleBytes) {
            idleBytes.addAndGet(-cap);
            return; // dropped: the GC frees it
        }
        classes[index(cap)].offer(b);
    }

    /** Bytes held by idle pooled buffers. */
    long idleBytes() {
        return idleBytes.get();
    }
}

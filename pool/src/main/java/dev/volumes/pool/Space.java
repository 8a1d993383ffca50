package dev.volumes.pool;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Block accounting of one pool: reference counts, the used bitmap, outstanding reservations,
 * frees that must wait for a later commit, and pins.
 *
 * <p>Not thread-safe: every method is called with the engine's metadata lock held.
 *
 * <p>Invariants: a block is {@code used} iff it lies in the superblock ring, or its refcount is
 * positive, or it is waiting in {@code pendingFree}. {@code free} counts the clear bits of
 * {@code used} in the data area. A block freed while transaction {@code t} was open is recorded
 * under {@code t} and becomes allocatable only when commit {@code t + 1} is durable, so the two
 * newest committed trees always stay intact. A pin recorded under {@code t} (a reference dropped
 * while an older committed tree may still reach the block by another path) forbids in-place
 * overwrite of the block until commit {@code t + 1} is durable.
 */
final class Space {

    private final long first;
    private long total;
    private int[] rc;
    private final BitSet used;
    private long free;
    private long reserved;
    private long inFlight;
    private int cursor;
    private final TreeMap<Long, List<Long>> pendingFree = new TreeMap<>();
    private final TreeMap<Long, Set<Long>> pins = new TreeMap<>();

    Space(long first, long total) {
        this.first = first;
        this.total = total;
        this.rc = new int[(int) total];
        this.used = new BitSet((int) total);
        used.set(0, (int) first);
        this.free = total - first;
        this.cursor = (int) first;
    }

    /** Adds blocks {@code [total, newTotal)} to the data area as free blocks (pool growth). */
    void grow(long newTotal) {
        if (newTotal <= total) {
            return;
        }
        rc = java.util.Arrays.copyOf(rc, (int) newTotal);
        free += newTotal - total;
        total = newTotal;
    }

    long first() {
        return first;
    }

    long total() {
        return total;
    }

    int rc(long block) {
        return rc[(int) block];
    }

    boolean inDataArea(long block) {
        return block >= first && block < total;
    }

    /** Blocks neither used nor pending. */
    long free() {
        return free;
    }

    /** Blocks promised to writes in progress (node shadows not yet taken). */
    long reserved() {
        return reserved;
    }

    /** Takes a free block (next-fit from a rolling cursor) with refcount 1. */
    long allocate() {
        if (free <= 0) {
            throw new IllegalStateException("pool allocator has no free block (accounting bug)");
        }
        int b = used.nextClearBit(cursor);
        if (b >= total) {
            b = used.nextClearBit((int) first);
        }
        used.set(b);
        free--;
        rc[b] = 1;
        cursor = b + 1 >= total ? (int) first : b + 1;
        return b;
    }

    /**
     * Takes {@code n} free blocks with refcount 1, preferring one contiguous run (so a
     * sequential write becomes one device write): looks at up to 64 free runs from the cursor,
     * else takes blocks one by one. Caller checked {@code n <= free()}.
     */
    long[] allocateRun(int n) {
        long[] out = new long[n];
        if (n > 1) {
            int from = cursor;
            boolean wrapped = false;
            for (int tries = 0; tries < 64; tries++) {
                int b = used.nextClearBit(from);
                if (b >= total) {
                    if (wrapped) {
                        break;
                    }
                    wrapped = true;
                    from = (int) first;
                    continue;
                }
                int end = used.nextSetBit(b);
                if (end < 0 || end > total) {
                    end = (int) total;
                }
                if (end - b >= n) {
                    used.set(b, b + n);
                    free -= n;
                    for (int i = 0; i < n; i++) {
                        rc[b + i] = 1;
                        out[i] = b + i;
                    }
                    cursor = b + n >= total ? (int) first : b + n;
                    return out;
                }
                from = end;
            }
        }
        for (int i = 0; i < n; i++) {
            out[i] = allocate();
        }
        return out;
    }

    /** Data blocks allocated by writes in progress and not yet published (check counts them as explained). */
    long inFlight() {
        return inFlight;
    }

    void inFlight(long delta) {
        inFlight += delta;
    }

    void reserve(long n) {
        reserved += n;
    }

    void unreserve(long n) {
        reserved -= n;
        if (reserved < 0) {
            throw new IllegalStateException("pool reservation went negative (accounting bug)");
        }
    }

    /** Takes one block from the reservation made earlier. */
    long allocateReserved() {
        unreserve(1);
        return allocate();
    }

    void incRef(long block) {
        rc[(int) block]++;
    }

    /** Decrements and returns the new count. */
    int decRef(long block) {
        int r = --rc[(int) block];
        if (r < 0) {
            throw new IllegalStateException("refcount of block " + block + " went negative (accounting bug)");
        }
        return r;
    }

    /** Sets a refcount directly (used when rebuilding at open). */
    void setRc(long block, int value) {
        rc[(int) block] = value;
        if (value > 0 && !used.get((int) block)) {
            used.set((int) block);
            free--;
        }
    }

    /** Returns a never-published block (refcount 1, allocated by this transaction) at once. */
    void unallocate(long block) {
        rc[(int) block] = 0;
        used.clear((int) block);
        free++;
    }

    /** Records a block whose refcount reached 0 in transaction {@code txn}. */
    void deferFree(long block, long txn) {
        if (rc[(int) block] != 0) {
            throw new IllegalStateException("deferred free of block " + block + " with refcount " + rc[(int) block]);
        }
        pendingFree.computeIfAbsent(txn, t -> new ArrayList<>()).add(block);
    }

    /**
     * Holds an unreferenced block as if it had been freed in transaction {@code txn} (used at open
     * for blocks only the previous generation references). Ignores blocks already used.
     */
    void holdAsPending(long block, long txn) {
        if (block < first || block >= total || used.get((int) block)) {
            return;
        }
        used.set((int) block);
        free--;
        pendingFree.computeIfAbsent(txn, t -> new ArrayList<>()).add(block);
    }

    void pin(long block, long txn) {
        pins.computeIfAbsent(txn, t -> new HashSet<>()).add(block);
    }

    boolean pinned(long block) {
        for (Set<Long> s : pins.values()) {
            if (s.contains(block)) {
                return true;
            }
        }
        return false;
    }

    /** Blocks that become free when everything recorded up to {@code txn} is released. */
    long pendingUpTo(long txn) {
        long n = 0;
        for (List<Long> l : pendingFree.headMap(txn, true).values()) {
            n += l.size();
        }
        return n;
    }

    /** Whether frees or pins are waiting for a commit to age them. */
    boolean hasPending() {
        return !pendingFree.isEmpty() || !pins.isEmpty();
    }

    /** Whether a block is waiting in the pending-free lists. */
    boolean isPending(long block) {
        for (List<Long> l : pendingFree.values()) {
            if (l.contains(block)) {
                return true;
            }
        }
        return false;
    }

    /** The blocks {@link #release(long)} of {@code txn} will free (for discarding them first). */
    List<Long> due(long txn) {
        List<Long> out = new ArrayList<>();
        for (List<Long> l : pendingFree.headMap(txn, true).values()) {
            out.addAll(l);
        }
        return out;
    }

    /**
     * Repair: a used block with no reference that is not pending (a leak) is queued to be freed
     * in transaction {@code txn} like any other free.
     */
    void reclaim(long block, long txn) {
        rc[(int) block] = 0;
        if (!used.get((int) block)) {
            used.set((int) block);
            free--;
        }
        pendingFree.computeIfAbsent(txn, t -> new ArrayList<>()).add(block);
    }

    /** Frees the blocks and drops the pins recorded in transactions up to {@code txn}. */
    void release(long txn) {
        Map<Long, List<Long>> due = pendingFree.headMap(txn, true);
        for (List<Long> l : due.values()) {
            for (long b : l) {
                if (rc[(int) b] != 0) {
                    throw new IllegalStateException("releasing block " + b + " with refcount " + rc[(int) b]);
                }
                used.clear((int) b);
                free++;
            }
        }
        due.clear();
        pins.headMap(txn, true).clear();
    }

    /** Repair: sets the free counter to the bitmap's count. */
    void setFree(long value) {
        free = value;
    }

    /** For check: whether the used bit is set. */
    boolean usedBit(long block) {
        return used.get((int) block);
    }

    /** For check: every pending block. */
    List<Long> allPending() {
        List<Long> out = new ArrayList<>();
        pendingFree.values().forEach(out::addAll);
        return out;
    }

    /** For check: the number of clear used bits in the data area. */
    long countFree() {
        long n = 0;
        for (int b = used.nextClearBit((int) first); b < total; b = used.nextClearBit(b + 1)) {
            n++;
        }
        return n;
    }
}

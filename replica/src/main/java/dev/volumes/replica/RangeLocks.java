package dev.volumes.replica;

import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Orders overlapping byte ranges, first come first served, and lets disjoint ranges proceed in
 * parallel. Used by the engine so that overlapping writes (and rebuild chunk copies) reach every
 * replica in the same order, without a global write lock.
 *
 * <p>Design: one monitor guards a list of entries in arrival order, each either holding or
 * waiting. An entry may hold once no earlier entry (holding or waiting) overlaps it, so a stream
 * of writes to a hot range cannot starve a rebuild copy queued behind them. Acquire is O(entries);
 * entries are the requests in flight, a few hundred at most.
 */
final class RangeLocks {

    private static final class Entry {
        final long start;
        final long end;
        boolean holding;

        Entry(long start, long end) {
            this.start = start;
            this.end = end;
        }

        boolean overlaps(Entry o) {
            return start < o.end && o.start < end;
        }
    }

    /** A held range; release it exactly once. */
    final class Lease implements AutoCloseable {
        private final Entry entry;

        private Lease(Entry entry) {
            this.entry = entry;
        }

        @Override
        public void close() {
            release(entry);
        }
    }

    private final List<Entry> entries = new ArrayList<>();

    /**
     * Blocks until {@code [offset, offset + length)} overlaps no earlier range, then holds it.
     *
     * @throws InterruptedIOException if interrupted while waiting (nothing held then)
     */
    Lease acquire(long offset, long length) throws InterruptedIOException {
        Entry e = new Entry(offset, offset + Math.max(1, length));
        synchronized (this) {
            entries.add(e);
            try {
                while (blocked(e)) {
                    wait();
                }
            } catch (InterruptedException ie) {
                entries.remove(e);
                notifyAll();
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted waiting for range [" + offset + ", "
                        + (offset + length) + ")");
            }
            e.holding = true;
        }
        return new Lease(e);
    }

    /** Ranges held or waited for (for tests and status). */
    synchronized int size() {
        return entries.size();
    }

    private boolean blocked(Entry e) {
        for (Entry o : entries) {
            if (o == e) {
                return false;
            }
            if (o.overlaps(e)) {
                return true;
            }
        }
        return false;
    }

    private synchronized void release(Entry e) {
        if (!entries.remove(e)) {
            throw new IllegalStateException("range lease released twice");
        }
        notifyAll();
    }
}

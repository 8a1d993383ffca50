package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What an {@link NbdDevice} must re-send after a reconnect so that the next flush makes every
 * write the server acknowledged durable: the acknowledged but not yet flushed modifications, as
 * an interval map from byte ranges to their latest acknowledged content (docs/nbd.md, "Timeouts,
 * reconnect and durability").
 *
 * <p>Design. A non-FUA WRITE's payload is copied once, before it is sent, into a pooled direct
 * buffer ({@link #copy}); that copy is what goes on the wire (so a heap source costs no more than
 * the JDK's own bounce copy would), and when the server acknowledges the write the reader thread
 * hands the copy to the journal ({@link #acknowledged}) — no second copy. Entries never overlap:
 * an acknowledged modification first punches its range out of the map (trimming or splitting
 * older entries, which share their backing buffer through a reference count), then, for a
 * non-FUA WRITE or WRITE_ZEROES, inserts itself. So overwrites coalesce for free, replaying the
 * map in any order gives the state of the last acknowledgement per byte, and a replay never writes
 * older data over newer — in particular never over a FUA write, which is durable already and so
 * only punches. A TRIM only punches (what a discarded range reads is unspecified). Every
 * acknowledgement gets a sequence number; a flush sent when the last one was {@code c} covers
 * every entry up to {@code c}, and its completion ({@link #flushed}) drops them.
 *
 * <p>Bounds. Entries cost their backing buffers' capacity plus {@link #ENTRY_OVERHEAD} bytes; an
 * acknowledgement that would take the journal above the cap empties it and stops journaling
 * (overflow): from then on acknowledged unflushed modifications are only counted
 * ({@link #lostSince}) — a drop then fails the device stop as with no journal. The next flush
 * sent resumes journaling for acknowledgements after it; its completion ends the overflow. A cap
 * of 0 never journals: every unflushed acknowledgement is counted as lost (fail-stop on a drop).
 *
 * <p>Threading: every method takes one short lock; reader threads acknowledge, callers copy,
 * release and flush, the replayer takes a snapshot while the device's gate keeps every other
 * request (and so every acknowledgement and flush) away.
 */
final class ReplayJournal {

    /** Bytes charged per entry on top of its data (bounds the entry count of zero-only workloads). */
    static final int ENTRY_OVERHEAD = 128;

    /** A pooled copy of one WRITE's payload, owned by the request until the journal claims it. */
    static final class Copy {
        private static final int IN_FLIGHT = 0;
        private static final int JOURNALED = 1;
        private static final int RELEASED = 2;

        final ByteBuffer buffer;
        private final AtomicInteger state = new AtomicInteger(IN_FLIGHT);

        Copy(ByteBuffer buffer) {
            this.buffer = buffer;
        }

        private boolean claim() {
            return state.compareAndSet(IN_FLIGHT, JOURNALED);
        }
    }

    /** A backing buffer shared by the pieces of one write (splits), returned to the pool at 0 references. */
    private static final class Backing {
        final ByteBuffer buffer;
        int refs = 1;

        Backing(ByteBuffer buffer) {
            this.buffer = buffer;
        }
    }

    /**
     * One range to replay: a WRITE of {@code data} or a WRITE_ZEROES with {@code flags} (NO_HOLE
     * or 0), acknowledged as number {@code seq}.
     */
    record Entry(int type, int flags, long offset, long length, ByteBuffer data, long seq) {}

    private record Node(Entry entry, Backing backing) {
        long end() {
            return entry.offset() + entry.length();
        }
    }

    private final long cap;
    private final BufferPool pool;
    private final ReentrantLock lock = new ReentrantLock();
    private final TreeMap<Long, Node> ranges = new TreeMap<>();
    private long bytes;
    private long seq;
    private long flushed;
    private long lost;
    /** Sequence number of the acknowledgement whose overflow emptied a non-empty journal (0 = none). */
    private long cleared;
    /** Written under {@link #lock}; read without it by {@link #journaling()}. */
    private volatile boolean journaling;

    /** A journal holding at most {@code capBytes} (0 = never journal). */
    ReplayJournal(long capBytes) {
        this.cap = capBytes;
        this.journaling = capBytes > 0;
        this.pool = new BufferPool(Math.min(capBytes, 16L << 20));
    }

    /** Whether the journal exists at all (a cap above 0). */
    boolean enabled() {
        return cap > 0;
    }

    /**
     * Whether a write sent now should go from a {@link #copy}: the journal exists and has not
     * overflowed since the last flush was sent. During an overflow nothing acknowledged is kept
     * until the next flush, so copying would only cost: a long stream of writes without flushes
     * (a bulk copy) pays for the copies of its first {@code cap} bytes only. A write sent during
     * the overflow and acknowledged after a flush resumed journaling is counted as lost (not
     * journaled), the conservative answer.
     */
    boolean journaling() {
        return journaling;
    }

    /** A pooled copy of {@code src}'s remaining bytes (src is not consumed), to send and then journal. */
    Copy copy(ByteBuffer src) {
        ByteBuffer b = pool.take(src.remaining());
        b.put(src.duplicate()).flip();
        return new Copy(b);
    }

    /**
     * The request that owned {@code copy} is done; if the journal did not claim it (the write
     * failed or was not journaled), the buffer goes back to the pool. Null is ignored.
     */
    void release(Copy copy) {
        if (copy != null && copy.state.compareAndSet(Copy.IN_FLIGHT, Copy.RELEASED)) {
            pool.give(copy.buffer);
        }
    }

    /**
     * The server acknowledged a modification (WRITE, WRITE_ZEROES or TRIM, any flags). Returns its
     * sequence number if it is unflushed and not journaled (overflow, or a cap of 0), else 0.
     */
    long acknowledged(int type, int flags, long offset, long length, Copy copy) {
        boolean fua = (flags & Wire.CMD_FLAG_FUA) != 0;
        lock.lock();
        try {
            long s = ++seq;
            if (!journaling) {
                if (!fua) {
                    lost = s;
                    return s;
                }
                return 0;
            }
            punch(offset, length);
            if (fua || type == Wire.CMD_TRIM) {
                return 0; // durable already, or its content is unspecified anyway
            }
            long cost = ENTRY_OVERHEAD + (copy == null ? 0 : copy.buffer.capacity());
            boolean journalable = type == Wire.CMD_WRITE_ZEROES || (copy != null && copy.buffer.remaining() == length);
            if (!journalable || bytes + cost > cap || (copy != null && !copy.claim())) {
                if (!ranges.isEmpty()) {
                    cleared = s; // entries acknowledged on any connection are gone
                }
                clear();
                journaling = false; // overflow: until the next flush is sent
                lost = s;
                return s;
            }
            Backing backing = copy == null ? null : new Backing(copy.buffer);
            ByteBuffer data = copy == null ? null : copy.buffer.slice(0, (int) length);
            int replayFlags = type == Wire.CMD_WRITE_ZEROES ? flags & Wire.CMD_FLAG_NO_HOLE : 0;
            ranges.put(offset, new Node(new Entry(type, replayFlags, offset, length, data, s), backing));
            bytes += cost;
            return 0;
        } finally {
            lock.unlock();
        }
    }

    /** Removes [offset, offset + length) from the map, trimming and splitting overlapping entries. */
    private void punch(long offset, long length) {
        if (ranges.isEmpty() || length <= 0) {
            return;
        }
        long end = offset + length;
        Map.Entry<Long, Node> at = ranges.floorEntry(offset);
        if (at == null || at.getValue().end() <= offset) {
            at = ranges.ceilingEntry(offset);
        }
        // Entries never overlap, so only the floor entry can start before the range; the loop
        // re-adds a head piece under the same key and a tail piece at `end`, where it stops.
        while (at != null && at.getKey() < end) {
            Node n = at.getValue();
            Entry e = n.entry();
            ranges.remove(e.offset());
            bytes -= ENTRY_OVERHEAD;
            if (e.offset() < offset) {
                add(piece(n, e.offset(), offset));
            }
            if (n.end() > end) {
                add(piece(n, end, n.end()));
            }
            unref(n.backing());
            at = ranges.higherEntry(e.offset());
        }
    }

    /** The part [from, to) of node {@code n}, sharing its backing buffer. */
    private static Node piece(Node n, long from, long to) {
        Entry e = n.entry();
        ByteBuffer data = e.data() == null ? null : e.data().slice((int) (from - e.offset()), (int) (to - from));
        if (n.backing() != null) {
            n.backing().refs++;
        }
        return new Node(new Entry(e.type(), e.flags(), from, to - from, data, e.seq()), n.backing());
    }

    private void add(Node n) {
        ranges.put(n.entry().offset(), n);
        bytes += ENTRY_OVERHEAD;
    }

    private void unref(Backing b) {
        if (b != null && --b.refs == 0) {
            bytes -= b.buffer.capacity();
            pool.give(b.buffer);
        }
    }

    private void clear() {
        for (Node n : ranges.values()) {
            unref(n.backing());
        }
        ranges.clear();
        bytes = 0;
    }

    /**
     * A flush is about to be sent: returns the sequence number it will cover (every
     * acknowledgement so far). Resumes journaling after an overflow, for acknowledgements after
     * this point; the overflow ends only when a flush covering the lost ones completes.
     */
    long flushSending() {
        lock.lock();
        try {
            if (cap > 0) {
                journaling = true;
            }
            return seq;
        } finally {
            lock.unlock();
        }
    }

    /** A flush covering acknowledgements up to {@code covered} completed: their entries are durable. */
    void flushed(long covered) {
        lock.lock();
        try {
            if (covered <= flushed) {
                return;
            }
            flushed = covered;
            if (ranges.isEmpty()) {
                return;
            }
            if (seq == covered) {
                clear(); // nothing was acknowledged while the flush was in flight
                return;
            }
            for (Iterator<Node> it = ranges.values().iterator(); it.hasNext();) {
                Node n = it.next();
                if (n.entry().seq() <= covered) {
                    it.remove();
                    bytes -= ENTRY_OVERHEAD;
                    unref(n.backing());
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** The highest flushed sequence number. */
    long flushedSeq() {
        lock.lock();
        try {
            return flushed;
        } finally {
            lock.unlock();
        }
    }

    /** Whether some acknowledged unflushed modification is not in the journal (a drop cannot be repaired). */
    boolean lostSince() {
        lock.lock();
        try {
            return lost > flushed;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether an overflow since the last completed flush dropped entries, whichever connection
     * acknowledged them: then a drop of any connection may have lost writes the journal no longer
     * holds (per-connection tracking covers only the acknowledgements not journaled at all).
     */
    boolean droppedSince() {
        lock.lock();
        try {
            return cleared > flushed;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The entries to replay, in offset order (they never overlap). Only call while no request can
     * be acknowledged or flushed (the device's gate is closed): the data buffers stay valid until
     * the next acknowledgement or flush.
     */
    List<Entry> snapshot() {
        lock.lock();
        try {
            List<Entry> out = new ArrayList<>(ranges.size());
            for (Node n : ranges.values()) {
                out.add(n.entry());
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    /** Bytes charged now (buffers plus per-entry overhead), for tests and diagnostics. */
    long bytes() {
        lock.lock();
        try {
            return bytes;
        } finally {
            lock.unlock();
        }
    }

    /** Entries now, for tests and diagnostics. */
    int entries() {
        lock.lock();
        try {
            return ranges.size();
        } finally {
            lock.unlock();
        }
    }

    /** Drops everything without recycling buffers (the device is closing; a replay may still hold them). */
    void close() {
        lock.lock();
        try {
            ranges.clear();
            bytes = 0;
            journaling = false;
        } finally {
            lock.unlock();
        }
    }
}

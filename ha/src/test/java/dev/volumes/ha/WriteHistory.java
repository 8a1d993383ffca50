package dev.volumes.ha;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A history of an HA run and its checker (shared with the end-to-end tests through the test
 * jar). Every writer records each attempted write of one block (its node, the term it believed it
 * led, when it began and ended on one global logical clock, and whether it was acknowledged); the
 * harness records every term claim (fence) when it completes. Each write stores a unique stamp in
 * its block, so the final content of the volume tells which write survived.
 *
 * <p>Checks ({@link #check}): <b>stale</b> — no write of term t is acknowledged that began after a
 * claim of a newer term completed; <b>single writer</b> — no write of term t is acknowledged that
 * began after an acknowledged write of a newer term ended (the leaders' acknowledged writes do
 * not interleave); <b>lost</b> — every block holds either its last acknowledged write or a write
 * that was not followed by an acknowledged one (a failed or in-flight write may or may not have
 * landed), never an older acknowledged one, never zeros after an acknowledgement, never bytes no
 * write wrote. Thread-safe.
 */
public final class WriteHistory {

    /** Block size the stamps are written with. */
    public static final int BLOCK = 4096;

    /** One attempted write. {@code end} is set when it finished; {@code acked} if it succeeded. */
    public static final class Write {
        final long id;
        final String node;
        volatile long term;
        final int block;
        final long begin;
        volatile long end = Long.MAX_VALUE;
        volatile long endNanos;
        volatile boolean acked;
        volatile String failure;

        Write(long id, String node, long term, int block, long begin) {
            this.id = id;
            this.node = node;
            this.term = term;
            this.block = block;
            this.begin = begin;
        }

        /** The block's bytes: the write id repeated. */
        public ByteBuffer payload() {
            ByteBuffer b = ByteBuffer.allocate(BLOCK);
            while (b.hasRemaining()) {
                b.putLong(id).putLong(~id);
            }
            return b.flip();
        }

        /** Byte offset of the block. */
        public long offset() {
            return (long) block * BLOCK;
        }

        @Override
        public String toString() {
            return "write#" + id + "[" + node + " term " + term + " block " + block + " " + begin + ".." + end
                    + (acked ? " acked" : " failed: " + failure) + "]";
        }
    }

    record Claim(String node, long term, long at) {}

    private final AtomicLong clock = new AtomicLong();
    private final AtomicLong ids = new AtomicLong();
    private final List<Write> writes = new ArrayList<>();
    private final List<Claim> claims = new ArrayList<>();

    /** The logical clock's next tick. */
    public long tick() {
        return clock.incrementAndGet();
    }

    /** Records that {@code node} finished claiming {@code term} on the storage. */
    public synchronized void claimed(String node, long term) {
        claims.add(new Claim(node, term, tick()));
    }

    /** Starts recording a write; call {@link #acked} or {@link #failed} when it returns. */
    public Write begin(String node, long term, int block) {
        Write w = new Write(ids.incrementAndGet(), node, term, block, tick());
        synchronized (this) {
            writes.add(w);
        }
        return w;
    }

    public void acked(Write w) {
        w.endNanos = System.nanoTime();
        w.acked = true;
        w.end = tick();
    }

    /**
     * Records an acknowledgement of a write that was actually performed under {@code term} (a
     * writer only knows the term it believed in when it began; the storage session knows better).
     */
    public void acked(Write w, long term) {
        w.term = term;
        acked(w);
    }

    public void failed(Write w, Throwable why) {
        w.failure = why.toString();
        w.end = tick();
    }

    /**
     * The {@link System#nanoTime()} at which the first write of a term newer than {@code term} was
     * acknowledged, or -1 if none was yet; with that write's term in {@code termOut[0]}.
     */
    public synchronized long firstAckNewerThan(long term, long[] termOut) {
        Write first = null;
        for (Write w : writes) {
            if (w.acked && w.term > term && (first == null || w.end < first.end)) {
                first = w;
            }
        }
        if (first == null) {
            return -1;
        }
        termOut[0] = first.term;
        return first.endNanos;
    }

    /** Failed writes whose failure mentions {@code text} (case-insensitive). */
    public synchronized long failuresMentioning(String text) {
        String t = text.toLowerCase(java.util.Locale.ROOT);
        return writes.stream().filter(w -> !w.acked && w.failure != null
                && w.failure.toLowerCase(java.util.Locale.ROOT).contains(t)).count();
    }

    /** Acknowledged writes so far. */
    public synchronized long ackedCount() {
        return writes.stream().filter(w -> w.acked).count();
    }

    /** Acknowledged writes of writers whose name ends with {@code suffix}. */
    public synchronized long ackedBy(String suffix) {
        return writes.stream().filter(w -> w.acked && w.node.endsWith(suffix)).count();
    }

    /** Failed (finished, not acknowledged) writes of writers whose name ends with {@code suffix}. */
    public synchronized long failedBy(String suffix) {
        return writes.stream().filter(w -> !w.acked && w.end != Long.MAX_VALUE && w.node.endsWith(suffix)).count();
    }

    /** Writes so far that were refused or failed. */
    public synchronized long failedCount() {
        return writes.stream().filter(w -> !w.acked && w.end != Long.MAX_VALUE).count();
    }

    /**
     * Checks the history against the final volume content ({@code blocks} blocks read from the
     * storage after the run) and returns the violations, empty if none.
     */
    public synchronized List<String> check(ByteBuffer finalContent, int blocks) {
        List<String> violations = new ArrayList<>();
        List<Write> acked = writes.stream().filter(w -> w.acked).toList();
        // stale: acknowledged after a newer term's claim completed
        for (Write w : acked) {
            for (Claim c : claims) {
                if (c.term > w.term && w.begin > c.at) {
                    violations.add("stale write acknowledged: " + w + " began after " + c.node + " claimed term "
                            + c.term + " at " + c.at);
                    break;
                }
            }
        }
        // single writer: acknowledged writes of different terms do not interleave
        Map<Long, Long> firstAckEnd = new HashMap<>();
        for (Write w : acked) {
            firstAckEnd.merge(w.term, w.end, Math::min);
        }
        for (Write w : acked) {
            for (Map.Entry<Long, Long> e : firstAckEnd.entrySet()) {
                if (e.getKey() > w.term && w.begin > e.getValue()) {
                    violations.add("two leaders writing: " + w + " began after a write of term " + e.getKey()
                            + " was acknowledged at " + e.getValue());
                    break;
                }
            }
        }
        // lost: per block, the final stamp
        Map<Long, Write> byId = new HashMap<>();
        Map<Integer, List<Write>> byBlock = new HashMap<>();
        for (Write w : writes) {
            byId.put(w.id, w);
            byBlock.computeIfAbsent(w.block, k -> new ArrayList<>()).add(w);
        }
        for (int block = 0; block < blocks; block++) {
            ByteBuffer b = finalContent.duplicate().position(block * BLOCK).limit((block + 1) * BLOCK).slice();
            long id = b.getLong(0);
            long check = b.getLong(8);
            boolean uniform = true;
            for (int i = 0; i < BLOCK; i += 16) {
                if (b.getLong(i) != id || b.getLong(i + 8) != check) {
                    uniform = false;
                    break;
                }
            }
            List<Write> here = byBlock.getOrDefault(block, List.of());
            Write lastAcked = here.stream().filter(w -> w.acked).max(Comparator.comparingLong(w -> w.end)).orElse(null);
            if (!uniform) {
                violations.add("block " + block + " holds torn or foreign bytes (stamp " + id + " not repeated)");
                continue;
            }
            if (id == 0 && check == 0) {
                if (lastAcked != null) {
                    violations.add("block " + block + " reads zeros but " + lastAcked + " was acknowledged");
                }
                continue;
            }
            Write found = byId.get(id);
            if (found == null || found.block != block || check != ~id) {
                violations.add("block " + block + " holds stamp " + id + " that no write put there");
                continue;
            }
            for (Write w : here) {
                if (w.acked && w.begin > found.end) {
                    violations.add("acknowledged write lost: block " + block + " holds " + found + " but " + w
                            + " began after it ended and was acknowledged");
                    break;
                }
            }
        }
        return violations;
    }

    @Override
    public synchronized String toString() {
        return "WriteHistory[" + writes.size() + " writes, " + ackedCount() + " acked, " + claims.size() + " claims]";
    }
}

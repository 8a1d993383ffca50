package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Term fencing of one replica export: the storage-side half of split-brain protection.
 *
 * <h2>Design</h2>
 * A writer claims the export with its term and gets a {@link Session}, whose device passes each
 * request to the export's device only after checking, under the <em>read</em> lock of a fair
 * {@link ReentrantReadWriteLock}, that the session is still current. A claim takes the
 * <em>write</em> lock: it refuses a term lower than the promised one (or an equal term held by a
 * different writer), durably records a higher one ({@link TermStore}: fsync'd before it answers),
 * and marks every older session dead. Because requests hold the read lock for their whole
 * duration, when a claim returns no request of an older session is running and none will ever
 * run: "nothing an old writer sends afterwards reaches the replica" holds without races. The
 * old sessions' connections are then cut ({@code disconnect} callbacks run outside the lock).
 * A claim waits at most {@code claimTimeout} for running requests to drain, then fails (a hung
 * device must not wedge fencing silently).
 *
 * <p>One session per export at a time: a claim with the same term and writer also supersedes the
 * older session (a writer reconnecting must not have stale requests of its old connection land
 * after its new ones). Multi-connection clients are therefore not supported on replica exports.
 *
 * <p><b>Session numbers.</b> A claim may carry a session number, strictly increasing per writer
 * process ({@link ExportName#nextSession()}). The fence remembers the highest number claimed
 * under the current promise (in memory: since this fence started, reset by a newer term) and
 * refuses a claim of the same term and writer with a <em>lower</em> number — a stale client of
 * that writer reconnecting after a newer session of its own replaced it (a superseded NBD client
 * re-claiming and replaying its journal over a rebuild's session). An equal number is a reconnect
 * of the current session and is allowed. That refusal is no fence (the writer's term is still
 * promised). A claim without a number (0: an older client) is not compared and changes nothing.
 *
 * <p>A request of a superseded session is refused according to the promise at the time of the
 * request: as a {@link FencedException} (whose text ends with a {@link FenceToken}) only when the
 * promise fences the session — a newer term, or its term for another writer; a session replaced by
 * the same writer with the same term (a reconnect, the engine's fencing probe) fails with a plain
 * IOException, which is no reason for the writer to stop.
 */
final class TermFence implements AutoCloseable {

    private final String export;
    private final Device device;
    private final TermStore store;
    private final Duration claimTimeout;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);
    private final Set<Session> sessions = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Highest session number claimed under the current promise since this fence started; under the write lock. */
    private long highestSession;

    TermFence(String export, Device device, TermStore store, Duration claimTimeout) {
        this.export = export;
        this.device = device;
        this.store = store;
        this.claimTimeout = claimTimeout;
    }

    String export() {
        return export;
    }

    /** The promised term (0 if none yet). */
    long promised() {
        return store.current().term();
    }

    /** An unnumbered claim (session 0, as by a client from before session numbers). */
    Session claim(long term, String writer, Runnable onSuperseded) throws IOException {
        return claim(term, writer, 0, onSuperseded);
    }

    /**
     * Claims the export for {@code term}.
     *
     * @param session the claim's session number, 0 if it has none (not compared)
     * @param onSuperseded run (outside the lock) when a later claim makes this session dead
     * @throws FencedException if a newer term (or the same term for another writer) was promised
     * @throws StaleSessionException if {@code session} is below the highest number already
     *     claimed with this term by this writer
     * @throws IOException if the promise could not be made durable or older requests did not drain
     */
    Session claim(long term, String writer, long session, Runnable onSuperseded) throws IOException {
        List<Session> superseded = new ArrayList<>();
        Session s;
        try {
            if (!lock.writeLock().tryLock(claimTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new IOException("replica export " + export + ": claim for term " + term + " by " + writer
                        + ": requests of older sessions still running after " + claimTimeout.toMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted claiming " + export);
        }
        try {
            TermStore.Promise p = store.current();
            if (FenceToken.fences(p.term(), p.writer(), term, writer)) {
                throw new FencedException(export, term, p.term(), "promised to writer " + p.writer()
                        + "; claim by " + writer + " refused " + FenceToken.of(p.term(), p.writer()));
            }
            if (term > p.term()) {
                store.promise(term, writer);
                highestSession = 0;
            } else if (session > 0 && session < highestSession) {
                throw new StaleSessionException("replica export " + export + ": claim by writer " + writer
                        + " with term " + term + " refused: its session " + session + " is older than session "
                        + highestSession + " of the same writer and term, which replaced it (a stale client"
                        + " reconnecting); not fenced");
            }
            highestSession = Math.max(highestSession, session);
            for (Session old : sessions) {
                old.superseded = true;
                superseded.add(old);
            }
            sessions.clear();
            s = new Session(term, writer, session, onSuperseded);
            sessions.add(s);
        } finally {
            lock.writeLock().unlock();
        }
        for (Session old : superseded) {
            try {
                old.onSuperseded.run();
            } catch (RuntimeException e) {
                // cutting a connection is best effort; the session is dead either way
            }
        }
        return s;
    }

    @Override
    public void close() throws IOException {
        store.close();
    }

    /** A claim refused because a newer session of the same writer and term exists: not a fence. */
    static final class StaleSessionException extends IOException {
        StaleSessionException(String message) {
            super(message);
        }
    }

    /** One writer's session: a device view that refuses every request once superseded. */
    final class Session extends ForwardingDevice {
        final long term;
        final String writer;
        final long number;
        final Runnable onSuperseded;
        /** Set (under the write lock) when a later claim retired this session. */
        volatile boolean superseded;
        private volatile boolean closed;

        Session(long term, String writer, long number, Runnable onSuperseded) {
            super(device);
            this.term = term;
            this.writer = writer;
            this.number = number;
            this.onSuperseded = onSuperseded == null ? () -> { } : onSuperseded;
        }

        @Override
        public String name() {
            return export + ";term=" + term;
        }

        private interface Op<T> {
            T run() throws IOException;
        }

        private <T> T guarded(String what, Op<T> op) throws IOException {
            lock.readLock().lock();
            try {
                if (closed) {
                    throw new dev.volumes.device.DeviceClosedException(name(), what);
                }
                if (superseded) {
                    // over NBD this text is the error reply's message (structured replies); the
                    // connector reads the promise from its tail and decides whether it fences
                    TermStore.Promise p = store.current();
                    if (FenceToken.fences(p.term(), p.writer(), term, writer)) {
                        throw new FencedException(export, term, p.term(), what + " refused: session of term " + term
                                + " (writer " + writer + ") superseded by term " + p.term() + " of writer " + p.writer()
                                + " " + FenceToken.of(p.term(), p.writer()));
                    }
                    throw new IOException("replica export " + export + ": " + what + " refused: session of term " + term
                            + " (writer " + writer + ") was replaced by a newer session of the same writer and term"
                            + " (a reconnect or a fencing probe); not fenced");
                }
                return op.run();
            } finally {
                lock.readLock().unlock();
            }
        }

        @Override
        public long size() throws IOException {
            // "request": an NBD server asks the size first for every request's bounds check, so
            // this is what a superseded session's write or read over NBD is refused with
            return guarded("request", () -> delegate().size());
        }

        @Override
        public void read(ByteBuffer dst, long offset) throws IOException {
            guarded("read", () -> {
                delegate().read(dst, offset);
                return null;
            });
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            write(src, offset, WriteFlag.NONE);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            guarded("write", () -> {
                delegate().write(src, offset, flag);
                return null;
            });
        }

        @Override
        public void sync() throws IOException {
            guarded("sync", () -> {
                delegate().sync();
                return null;
            });
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
            guarded("write-zeroes", () -> {
                delegate().writeZeroes(offset, length, mayUnmap);
                return null;
            });
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            guarded("discard", () -> {
                delegate().discard(offset, length);
                return null;
            });
        }

        @Override
        public void prefetch(long offset, long length) throws IOException {
            guarded("prefetch", () -> {
                delegate().prefetch(offset, length);
                return null;
            });
        }

        @Override
        public List<Extent> extents(long offset, long length) throws IOException {
            return guarded("extents", () -> delegate().extents(offset, length));
        }

        @Override
        public void resize(long newSize) throws IOException {
            throw new dev.volumes.device.UnsupportedDeviceOperationException(name(), "resize");
        }

        /** Ends the session; the export's device stays open. */
        @Override
        public void close() {
            closed = true;
            sessions.remove(this);
        }
    }
}

package dev.volumes.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One client connection in transmission phase.
 *
 * <p>Design: any number of caller threads {@link #submit} requests; each gets a fresh cookie, is
 * registered in {@code pending} and is written (header + payload) under {@code writeLock}, so
 * requests are contiguous on the wire. One virtual reader thread decodes replies (simple,
 * structured or extended), matches them by cookie, copies READ data straight into the caller's
 * buffer and completes the request's future when its last chunk (DONE, or a simple reply)
 * arrives. The first transport error, EOF or protocol violation kills the connection: it is
 * closed and every request without a final reply fails with {@link ConnectionLostException},
 * which {@link NbdDevice} retries on a new connection. Invariant: a request is completed
 * normally only from a reply the server sent for its cookie; the {@code dead} flag is set before
 * {@code pending} is drained and checked after registering, so no request is ever left waiting
 * on a dead connection. The same register-then-check order makes the replay gate
 * ({@link Listener#gateClosed}) airtight: a replayer closes the gate, then waits for
 * {@code pending} to empty. A successful WRITE, WRITE_ZEROES or TRIM is reported to the listener
 * (the replay journal) before its future completes and before it leaves {@code pending}, so the
 * journal owns its payload copy before the caller could release it, and a replayer that found
 * the connection idle finds the acknowledgement in the journal.
 */
final class ClientWire {

    /** The connection died before the request got its final reply; the request may be retried. */
    static class ConnectionLostException extends IOException {
        ConnectionLostException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Nothing was sent: the device's gate is closed while a reconnected connection replays the
     * journal; the caller waits for the gate and sends the request again.
     */
    static final class GateClosedException extends ConnectionLostException {
        GateClosedException(String message) {
            super(message, null);
        }
    }

    /** The final answer to one request: errno 0 = success. */
    record Reply(int errno, String message, List<long[]> descriptors) {}

    /** Called on the reader thread; see {@link NbdDevice}. */
    interface Listener {
        /**
         * The server acknowledged a WRITE, WRITE_ZEROES or TRIM (any flags; not for replayed
         * requests), before the caller learns of it.
         */
        void acknowledged(ClientWire connection, Pending request);

        /** The connection died (not called for a deliberate {@link #disconnect}). */
        void dropped(ClientWire connection, IOException cause);

        /** Whether new requests must wait (a reconnect is replaying the journal); checked per submit. */
        default boolean gateClosed() {
            return false;
        }
    }

    /** One request in flight. */
    static final class Pending {
        final int type;
        final int flags;
        final long offset;
        final long length;
        final ByteBuffer dst; // READ: exactly length bytes, absolute positions 0..length
        final ReplayJournal.Copy copy; // WRITE: the pooled payload copy the journal may keep, or null
        final boolean replay; // re-sent from the journal: not acknowledged to the listener again
        final CompletableFuture<Reply> future = new CompletableFuture<>();
        final long sentNanos = System.nanoTime();
        int errno;
        String message;
        List<long[]> descriptors;

        Pending(int type, int flags, long offset, long length, ByteBuffer dst, ReplayJournal.Copy copy,
                boolean replay) {
            this.type = type;
            this.flags = flags;
            this.offset = offset;
            this.length = length;
            this.dst = dst;
            this.copy = copy;
            this.replay = replay;
        }
    }

    private final ClientHandshake.Session session;
    private final String server;
    private final Listener listener;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong();
    private final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer[]> outbox =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final Thread reader;
    private volatile IOException dead;
    private volatile boolean disconnecting;
    /**
     * Set by {@link NbdDevice} on the reader thread: sequence number of the last modification this
     * connection acknowledged that is neither flushed nor held by the replay journal.
     */
    volatile long lastLostSeq;
    /** Set by {@link Slots} when this connection dropped: the device's drop count then (0 = alive). */
    volatile long diedAt;

    ClientWire(ClientHandshake.Session session, String server, Listener listener) {
        this.session = session;
        this.server = server;
        this.listener = listener;
        this.reader = Thread.ofVirtual().name("nbd-client-reader " + server).unstarted(this::readLoop);
        reader.start();
    }

    ClientHandshake.Session session() {
        return session;
    }

    boolean alive() {
        return dead == null;
    }

    /** Requests sent (or being sent) and not yet finally answered. */
    boolean idle() {
        return pending.isEmpty();
    }

    /** {@link #submit(int, int, long, long, ByteBuffer, ByteBuffer, ReplayJournal.Copy, boolean)} of a plain request. */
    Pending submit(int type, int flags, long offset, long length, ByteBuffer payload, ByteBuffer dst)
            throws ConnectionLostException {
        return submit(type, flags, offset, length, payload, dst, null, false);
    }

    /**
     * Registers and sends one request. {@code payload} (WRITE) is sent from a duplicate, so the
     * caller's buffer is untouched and can be resent. A {@code replay} request passes the gate
     * (it is what the gate waits for) and is not acknowledged to the listener.
     *
     * @throws ConnectionLostException if the connection is already dead (nothing was sent)
     * @throws GateClosedException if a journal replay is running (nothing was sent)
     */
    Pending submit(int type, int flags, long offset, long length, ByteBuffer payload, ByteBuffer dst,
            ReplayJournal.Copy copy, boolean replay) throws ConnectionLostException {
        if (!session.extended() && (length >>> 32) != 0) { // would be truncated by the 32-bit field
            throw new IllegalArgumentException("length " + length + " needs extended headers");
        }
        IOException d = dead;
        if (d != null) {
            throw new ConnectionLostException("connection to " + server + " is down: " + d.getMessage(), d);
        }
        long cookie = cookies.incrementAndGet();
        Pending p = new Pending(type, flags, offset, length, dst, copy, replay);
        pending.put(cookie, p);
        // Registered first, then the checks (both volatile): a replayer that closes the gate and
        // then waits for every pending map to empty either sees this request or is seen here.
        if (!replay && listener.gateClosed() && pending.remove(cookie) != null) {
            throw new GateClosedException("connection to " + server + ": the journal is being replayed");
        }
        d = dead;
        if (d != null && pending.remove(cookie) != null) {
            throw new ConnectionLostException("connection to " + server + " is down: " + d.getMessage(), d);
        }
        ByteBuffer header = RequestEncoder.header(session.extended(), flags, type, cookie, offset, length);
        outbox.add(payload == null ? new ByteBuffer[] {header} : new ByteBuffer[] {header, payload.duplicate()});
        flush();
        return p;
    }

    /**
     * Writes everything queued in {@code outbox}. Flat combining: whoever gets the write lock
     * sends the queued requests of every thread in one gathering write (fewer system calls under
     * contention); a thread that finds the lock taken leaves its request to the holder, which
     * re-checks the queue after unlocking, so no request is stranded. The caller waits for the
     * reply anyway, which cannot come before its request was sent; a send failure kills the
     * connection and so fails the request as lost.
     */
    private void flush() {
        while (!outbox.isEmpty()) {
            if (!writeLock.tryLock()) {
                return;
            }
            try {
                List<ByteBuffer> batch = new ArrayList<>();
                ByteBuffer[] item;
                long bytes = 0;
                while (batch.size() < 128 && bytes < (4 << 20) && (item = outbox.poll()) != null) {
                    for (ByteBuffer b : item) {
                        batch.add(b);
                        bytes += b.remaining();
                    }
                }
                if (dead == null) {
                    session.transport().write(batch.toArray(new ByteBuffer[0]));
                }
            } catch (IOException e) {
                kill(e);
            } finally {
                writeLock.unlock();
            }
        }
    }

    /** A request got no reply within the timeout; the caller must {@link #abort} the connection. */
    static final class RequestTimeoutException extends IOException {
        RequestTimeoutException(String message) {
            super(message);
        }
    }

    /**
     * Fails every request older than {@code timeoutNanos} with {@link RequestTimeoutException}
     * (called by the watchdog of {@link Slots}; callers wait untimed, which is cheaper for virtual
     * threads than a timed park per request).
     */
    void expire(long nowNanos, long timeoutNanos) {
        for (Pending p : pending.values()) {
            if (nowNanos - p.sentNanos > timeoutNanos) {
                p.future.completeExceptionally(new RequestTimeoutException("no reply"));
            }
        }
    }

    /** Kills the connection (e.g. a request timed out): every pending request fails as lost. */
    void abort(IOException why) {
        kill(why);
        joinReader();
    }

    /** Sends {@code NBD_CMD_DISC} (best effort), closes and waits for the reader to finish. */
    void disconnect() {
        disconnecting = true;
        if (dead == null) {
            ByteBuffer header = RequestEncoder.header(session.extended(), 0, Wire.CMD_DISC, cookies.incrementAndGet(), 0, 0);
            writeLock.lock();
            try {
                session.transport().write(header);
            } catch (IOException ignored) {
                // closing anyway
            } finally {
                writeLock.unlock();
            }
        }
        kill(new IOException("disconnected by the client"));
        joinReader();
    }

    /** Waits until the reader thread is no longer touching any caller buffer. */
    void joinReader() {
        if (Thread.currentThread() == reader) {
            return;
        }
        boolean interrupted = false;
        while (reader.isAlive()) {
            try {
                reader.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void kill(IOException cause) {
        synchronized (this) {
            if (dead != null) {
                return;
            }
            dead = cause;
        }
        session.transport().close();
    }

    private void readLoop() {
        IOException cause;
        try {
            while (true) {
                readReply();
            }
        } catch (IOException e) {
            cause = e;
        } catch (RuntimeException e) {
            cause = new IOException("client reader failed: " + e, e);
        }
        boolean deliberate;
        synchronized (this) {
            deliberate = disconnecting || dead != null;
            if (dead == null) {
                dead = cause;
            }
        }
        session.transport().close();
        IOException why = dead;
        for (Long cookie : List.copyOf(pending.keySet())) {
            Pending p = pending.remove(cookie);
            if (p != null) {
                p.future.completeExceptionally(new ConnectionLostException(
                        "connection to nbd server " + server + " lost: " + why.getMessage(), why));
            }
        }
        if (!disconnecting) {
            listener.dropped(this, deliberate ? why : cause);
        }
    }

    private void readReply() throws IOException {
        WireInput in = session.input();
        int magic = in.readInt();
        switch (magic) {
            case Wire.SIMPLE_REPLY_MAGIC -> {
                int errno = in.readInt();
                long cookie = in.readLong();
                Pending p = lookup(cookie);
                if (errno == 0 && p.type == Wire.CMD_READ) {
                    in.readFully(p.dst.duplicate().clear());
                }
                if (errno != 0) {
                    p.errno = errno;
                }
                finish(cookie, p);
            }
            case Wire.STRUCTURED_REPLY_MAGIC, Wire.EXTENDED_REPLY_MAGIC -> {
                boolean ext = magic == Wire.EXTENDED_REPLY_MAGIC;
                int flags = in.readUnsignedShort();
                int type = in.readUnsignedShort();
                long cookie = in.readLong();
                long length;
                if (ext) {
                    in.readLong(); // offset of the request
                    length = in.readLong();
                } else {
                    length = Integer.toUnsignedLong(in.readInt());
                }
                Pending p = lookup(cookie);
                chunk(p, type, length, ext);
                if ((flags & Wire.REPLY_FLAG_DONE) != 0) {
                    finish(cookie, p);
                }
            }
            default -> throw new IOException(String.format("nbd server %s sent reply magic 0x%08x", server, magic));
        }
    }

    private void chunk(Pending p, int type, long length, boolean ext) throws IOException {
        WireInput in = session.input();
        switch (type) {
            case Wire.REPLY_TYPE_NONE -> in.skip(length);
            case Wire.REPLY_TYPE_OFFSET_DATA -> {
                long at = in.readLong();
                long n = length - 8;
                checkInside(p, at, n, "OFFSET_DATA");
                in.readFully(p.dst.duplicate().clear().position((int) (at - p.offset)).limit((int) (at - p.offset + n)));
            }
            case Wire.REPLY_TYPE_OFFSET_HOLE -> {
                long at = in.readLong();
                long n = Integer.toUnsignedLong(in.readInt());
                in.skip(length - 12);
                checkInside(p, at, n, "OFFSET_HOLE");
                ByteBuffer d = p.dst.duplicate().clear().position((int) (at - p.offset)).limit((int) (at - p.offset + n));
                while (d.hasRemaining()) {
                    d.put((byte) 0);
                }
            }
            case Wire.REPLY_TYPE_BLOCK_STATUS, Wire.REPLY_TYPE_BLOCK_STATUS_EXT -> {
                boolean wide = type == Wire.REPLY_TYPE_BLOCK_STATUS_EXT;
                if (length > (2L << 20)) { // ours sends <= 1 MiB; bounds what a hostile server makes us allocate
                    throw new IOException("nbd server " + server + " sent a block status chunk of " + length + " bytes");
                }
                int context = in.readInt();
                long left = length - 4;
                if (wide) {
                    in.readInt(); // descriptor count
                    left -= 4;
                }
                List<long[]> out = new ArrayList<>();
                int size = wide ? 16 : 8;
                while (left >= size) {
                    long len = wide ? in.readLong() : Integer.toUnsignedLong(in.readInt());
                    long status = wide ? in.readLong() : Integer.toUnsignedLong(in.readInt());
                    out.add(new long[] {len, status});
                    left -= size;
                }
                in.skip(left);
                if (context == session.metaContextId() && p.descriptors == null) {
                    p.descriptors = out;
                }
            }
            default -> {
                if ((type & 0x8000) == 0) {
                    throw new IOException("nbd server " + server + " sent unknown reply chunk type " + type);
                }
                int errno = in.readInt();
                int mlen = in.readUnsignedShort();
                if (mlen + 6 > length) {
                    throw new IOException("nbd server " + server + " sent an error chunk with a bad message length");
                }
                String message = new String(in.readBytes(mlen), StandardCharsets.UTF_8);
                in.skip(length - 6 - mlen);
                if (p.errno == 0) {
                    p.errno = errno == 0 ? Wire.EIO : errno;
                    p.message = message;
                }
            }
        }
    }

    private void checkInside(Pending p, long at, long n, String what) throws IOException {
        if (p.type != Wire.CMD_READ || at < p.offset || n < 0 || at + n > p.offset + p.length) {
            throw new IOException("nbd server " + server + " sent " + what + " for " + n + " bytes at " + at
                    + " outside the request (" + p.length + " bytes at " + p.offset + ")");
        }
    }

    private Pending lookup(long cookie) throws IOException {
        Pending p = pending.get(cookie);
        if (p == null) {
            throw new IOException("nbd server " + server + " answered unknown cookie " + cookie);
        }
        return p;
    }

    private void finish(long cookie, Pending p) {
        if (p.errno == 0 && !p.replay
                && (p.type == Wire.CMD_WRITE || p.type == Wire.CMD_WRITE_ZEROES || p.type == Wire.CMD_TRIM)) {
            listener.acknowledged(this, p); // before the caller hears of it (it then releases its copy)
        }
        pending.remove(cookie);
        p.future.complete(new Reply(p.errno, p.message, p.descriptors));
    }
}

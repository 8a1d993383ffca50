package dev.volumes.nbd;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.WriteFlag;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The transmission phase of one connection.
 *
 * <p>Design: exactly one thread at a time reads the socket (leader/follower). The reader decodes
 * a request header, validates it, reserves memory for its payload (per-connection and per-server
 * byte budgets, plus a request-slot semaphore) — blocking, which stops reading from the socket and
 * so pushes back on the client instead of running out of memory — reads a write payload, then
 * starts a new virtual thread that becomes the next reader and runs the request itself (no
 * thread hand-off before the Device is called). Workers call the Device and write their reply while holding
 * {@link #writeLock}, the single writer of the socket; all chunks of one reply are written under
 * one hold, so they are contiguous on the wire. A reply is only sent after the Device call
 * returned, so an acknowledged write has reached the Device (and with FUA, durable storage).
 *
 * <p>Small requests run inline. When a small READ or WRITE (at most {@link #INLINE_MAX} bytes, no
 * FUA) is the only request in flight and no further request bytes are buffered, the reader runs it
 * itself and reads on: at queue depth 1 a request costs one wake-up of the reader and no thread
 * start. A request that cannot run inline (the client pipelines, or a large/FUA/other command)
 * starts the next virtual reader as described above. A request arriving while an inline one runs
 * waits at most for that one small request; if an inline request was slow (over {@link
 * #INLINE_SLOW_NANOS}, e.g. a Device that went to the network), inlining pauses for {@link
 * #INLINE_BACKOFF} requests so a slow Device cannot serialise a client. The reader role passes
 * between threads through Thread.start (happens-before), which also publishes the reader-only
 * fields ({@link #inlineNext}, {@link #inlineBackoff}, the decoder and the input buffer).
 *
 * <p>Which reader starts a connection depends on the processors the JVM has. With two or more,
 * readers are virtual threads. With one, each connection starts with a platform-thread reader
 * ({@link #platformLead}), which blocks in the socket read itself and runs inline requests; at the
 * first request it cannot run inline it starts the virtual chain and waits on {@link #readerRole}
 * until a virtual reader that finds an inline request hands the role back. Measured on this
 * project's 2-core machine (docs/benchmarks.md, nbd "Reader threads"): with both cores virtual
 * readers were faster on every job (about 1.4x at queue depth 1; the scheduler's carriers and
 * poller pick a request up sooner than a kernel wake-up of an idle platform reader); with the
 * server pinned to one core the platform reader was faster on every 4 KiB job (1.05x-1.35x: one
 * carrier cannot overlap anything, so the hand-offs are pure cost). {@code
 * -Dvolumes.nbd.platformReader=true|false} overrides the choice. Replies always go
 * through {@link #send} (write lock, send watchdog).
 *
 * <p>On NBD_CMD_DISC, end of stream, or a graceful server shutdown (which shuts the socket's
 * input), the last reader completes {@link #readersDone}; the connection thread then waits for every in-flight request to reply (by taking all request
 * slots), syncs the device, and returns; the connection then closes the socket. On a protocol
 * violation it does the same without syncing, then the connection closes.
 */
final class Transmission {

    private static final System.Logger LOG = System.getLogger(Transmission.class.getName());

    /** Requests in flight per connection (bounds threads even for payload-free requests). */
    static final int MAX_REQUESTS = 256;
    /** Write payloads above the advertised maximum but below this are drained and refused. */
    static final long DISCARD_LIMIT = 64L << 20;
    /**
     * Largest range one block-status request examines (the reply may cover a prefix, as the spec
     * allows). Bounds the extent list a request materialises: at 4 KiB fragmentation, 32k extents
     * (about 1 MB of heap) rather than the 262k a 1 GiB span would build.
     */
    static final long BLOCK_STATUS_SPAN = 128L << 20;
    /** Largest READ/WRITE run inline on the reader (see the class comment). */
    static final int INLINE_MAX = 128 * 1024;
    /** An inline request slower than this pauses inlining. */
    static final long INLINE_SLOW_NANOS = 2_000_000;
    /** How many requests inlining pauses for after a slow one. */
    static final int INLINE_BACKOFF = 1024;
    /**
     * Reads shorter than this are answered with one OFFSET_DATA chunk without asking the Device
     * for extents (the spec allows data chunks for holes; for small reads the extent lookup costs
     * more than the zeros it would save).
     */
    static final int HOLE_SCAN_MIN = 64 * 1024;

    /** Most descriptors in one block-status chunk (spec: SHOULD NOT exceed 2^20). */
    static final int MAX_DESCRIPTORS = 1 << 16;

    private final Connection connection;
    private final NbdServer server;
    private final Export export;
    private final Device device;
    private final ReplyEncoder replies;
    private final RequestDecoder decoder;
    private final BlockSizes sizes;
    private final RequestRules rules;
    private final ReentrantLock writeLock = new ReentrantLock();
    /** System.nanoTime() when the current reply send began, 0 when none is in progress. */
    private volatile long sendingSince;
    private final Semaphore slots = new Semaphore(MAX_REQUESTS);
    private final Semaphore bytes;
    private volatile boolean broken;
    private volatile boolean stopping;
    /**
     * The client's input ended without DISC (end of stream or a broken socket). Requests read
     * before that but not yet started are dropped, never run: nobody can receive their replies,
     * and a client that reconnected may already have re-sent them and moved on, so running the
     * old copy late could land an older write over a newer acknowledged one (docs/nbd.md "A late
     * original").
     */
    private volatile boolean inputLost;
    /** Whether a request of this connection modified the device (decides the sync at disconnect). */
    private volatile boolean modified;
    /** Reader-only state (the reader role passes between threads with happens-before via Thread.start). */
    private boolean inlineNext;
    private int inlineBackoff;
    private final java.util.concurrent.ThreadFactory readers;
    /** Released when a virtual reader chain gives the reader role back to the platform reader (or ends). */
    private final Semaphore readerRole = new Semaphore(0);
    /** Whether a platform reader runs this connection (set before any reader starts). */
    private boolean platform;
    private final java.util.concurrent.CompletableFuture<Boolean> readersDone = new java.util.concurrent.CompletableFuture<>();
    private final java.util.concurrent.atomic.LongAdder requests = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder connBytesRead = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder connBytesWritten = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder connErrors = new java.util.concurrent.atomic.LongAdder();

    Transmission(Connection connection, NbdServer server, Connection.Negotiated negotiated) {
        this.connection = connection;
        this.server = server;
        this.export = negotiated.export();
        this.device = export.device();
        this.replies = new ReplyEncoder(negotiated.style());
        this.decoder = new RequestDecoder(negotiated.style() == ReplyEncoder.Style.EXTENDED);
        this.sizes = Export.blockSizes(device, server.connectionByteBudget());
        this.rules = new RequestRules(negotiated, sizes);
        this.bytes = new Semaphore(server.connectionByteBudget());
        this.platform = server.platformReader();
        this.readers = Thread.ofVirtual().name("nbd-conn-" + connection.id() + "-reader").factory();
    }

    Export export() {
        return export;
    }

    /** This connection's counters. */
    NbdServer.ConnectionStats stats(long id, String peer, boolean tls) {
        return new NbdServer.ConnectionStats(id, peer, export.name(), tls, requests.sum(), connBytesRead.sum(),
                connBytesWritten.sum(), connErrors.sum(), MAX_REQUESTS - slots.availablePermits());
    }

    /** Graceful stop requested (server close, export removal): the input is being shut down. */
    void stop() {
        stopping = true;
    }

    void run() throws IOException {
        export.counters().connections.incrementAndGet();
        export.counters().totalConnections.increment();
        boolean clean = false;
        try {
            if (platform) {
                try {
                    Thread.ofPlatform().name("nbd-conn-" + connection.id() + "-reader").daemon(true)
                            .stackSize(256 * 1024).start(this::platformLead);
                } catch (Throwable e) { // e.g. no native thread available: virtual readers only
                    LOG.log(Level.WARNING, () -> "connection " + connection.id()
                            + ": cannot start a platform reader, using virtual readers: " + e);
                    platform = false;
                    lead();
                }
            } else {
                lead();
            }
            clean = awaitReaders();
        } finally {
            drain();
            if (clean && modified && !connection.disconnected()) { // nothing written here: nothing to sync
                try {
                    device.sync();
                } catch (IOException e) {
                    LOG.log(Level.WARNING, () -> "sync of export '" + export.name() + "' at disconnect failed: " + e);
                }
            }
            export.counters().connections.decrementAndGet();
        }
    }

    /**
     * Whether connections start with a platform-thread reader (see the class comment): when the
     * JVM has one processor, unless {@code -Dvolumes.nbd.platformReader} says otherwise.
     */
    static final boolean PLATFORM_READER = Boolean.parseBoolean(System.getProperty("volumes.nbd.platformReader",
            String.valueOf(Runtime.getRuntime().availableProcessors() == 1)));

    /**
     * The platform reader: reads while the client is not pipelining and runs each small request
     * inline (one kernel wake-up per request, as in a thread-per-connection C server). On the
     * first request it cannot run inline it hands the reader role to a virtual leader/follower
     * chain and waits on {@link #readerRole} until that chain hands it back (it saw a request it
     * could run inline) or ended.
     */
    private void platformLead() {
        while (true) {
            Runnable work;
            try {
                work = nextWork();
            } catch (Throwable e) {
                readersDone.completeExceptionally(e);
                return;
            }
            if (work == null) {
                return;
            }
            if (inlineNext) {
                runInline(work);
                continue;
            }
            try {
                readers.newThread(this::lead).start();
            } catch (Throwable e) { // no virtual reader: run this request, then end
                readersDone.completeExceptionally(e);
                work.run();
                return;
            }
            work.run();
            readerRole.acquireUninterruptibly();
            if (readersDone.isDone()) {
                return;
            }
        }
    }

    private void runInline(Runnable work) {
        long start = System.nanoTime();
        work.run();
        if (System.nanoTime() - start > INLINE_SLOW_NANOS) {
            inlineBackoff = INLINE_BACKOFF;
        }
    }

    /**
     * The body of a virtual reader (leader/follower): reads until it has a request to run; if it
     * may run inline, runs it and reads on (or, under a platform reader, hands the reader role
     * back); otherwise starts a new virtual thread that becomes the next reader and runs the
     * request itself, so a request is executed without waiting for another thread to be
     * scheduled. The chain ends when a reader sees DISC, end of stream or a fatal error,
     * completing {@link #readersDone}.
     */
    private void lead() {
        boolean passedOn = false;
        try {
            passedOn = leadLoop();
        } finally {
            if (!passedOn && platform) {
                readerRole.release(); // handed back, or the chain ended: wake the platform reader
            }
        }
    }

    /** Returns true if the reader role passed to a new virtual thread, false if it ended here. */
    private boolean leadLoop() {
        while (true) {
            Runnable work;
            try {
                work = nextWork();
            } catch (Throwable e) { // also Errors: the connection thread waits on readersDone
                readersDone.completeExceptionally(e);
                if (e instanceof Error err && !(e instanceof OutOfMemoryError)) {
                    throw err;
                }
                return false;
            }
            if (work == null) {
                return false; // nextWork completed readersDone
            }
            if (inlineNext) { // the only request in flight, small: run it here
                runInline(work);
                if (platform) {
                    return false; // the client stopped pipelining: the platform reader takes over
                }
                continue;
            }
            boolean started = false;
            try {
                readers.newThread(this::lead).start();
                started = true;
            } catch (Throwable e) { // no next reader: run this request (it releases its memory), then end
                readersDone.completeExceptionally(e);
            }
            work.run();
            return started;
        }
    }

    private boolean awaitReaders() throws IOException {
        try {
            return readersDone.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while serving a connection", e);
        } catch (java.util.concurrent.ExecutionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case RuntimeException re -> throw re;
                case OutOfMemoryError oom -> throw new IOException("out of memory serving the connection: " + oom, oom);
                case Error err -> throw err;
                default -> throw new IOException(e.getCause());
            }
        }
    }

    /**
     * Reads requests, answering refused ones directly, until one must run: returns it (payload
     * read, memory reserved). Returns null after completing {@link #readersDone} with true on a
     * clean end (DISC or end of stream) or false if the connection broke.
     */
    private Runnable nextWork() throws IOException {
        while (!broken && !connection.disconnected()) {
            RequestDecoder.Request r;
            try {
                r = nextRequest();
            } catch (EOFException e) {
                inputLost = true;
                if (!decoder.idle() && !stopping) {
                    throw new ProtocolException("client vanished in the middle of a request header");
                }
                readersDone.complete(true);
                return null;
            } catch (IOException e) {
                inputLost = true;
                if (stopping) {
                    readersDone.complete(true); // a TLS socket may report the shut-down input as an error
                    return null;
                }
                throw e;
            }
            if (r.type() == Wire.CMD_DISC) {
                readersDone.complete(true);
                return null;
            }
            requests.increment();
            Runnable work = dispatch(r);
            if (work != null) {
                return work;
            }
        }
        readersDone.complete(false);
        return null;
    }

    private RequestDecoder.Request nextRequest() throws IOException {
        while (true) {
            RequestDecoder.Request r = decoder.decode(connection.in);
            if (r != null) {
                return r;
            }
            connection.fill();
        }
    }

    /**
     * Validates, reserves memory, reads the payload; returns the work to run, or null if the
     * request was refused (and answered) here.
     */
    private Runnable dispatch(RequestDecoder.Request r) throws IOException {
        RequestRules.Rejection rejection;
        try {
            rejection = rules.check(r);
        } catch (Throwable e) { // device.size() failed (also with an Error): refuse, stay in sync
            rejection = new RequestRules.Rejection(errno(e), e instanceof Error ? "internal error in export '" + export.name()
                    + "': " + e : String.valueOf(e.getMessage()));
        }
        // With extended headers a client may attach a payload to any command (PAYLOAD_LEN); it is
        // consumed so the stream stays in sync, and refused (we do not advertise payload commands).
        boolean hasPayload = r.type() == Wire.CMD_WRITE
                || (decoder.extended() && (r.flags() & Wire.CMD_FLAG_PAYLOAD_LEN) != 0);
        if (rejection != null) {
            if (hasPayload) {
                if (Long.compareUnsigned(r.length(), DISCARD_LIMIT) > 0) {
                    throw new ProtocolException("write payload of " + Long.toUnsignedString(r.length())
                            + " bytes is far above the maximum of " + sizes.maximum());
                }
                discard(r.length());
            }
            export.counters().error(rejection.errno());
            connErrors.increment();
            send(replies.error(r.cookie(), r.offset(), rejection.errno(), rejection.message()));
            return null;
        }
        // Reserve the native bytes the buffer will really hold (its size class), not just the length.
        int reserve = (r.type() == Wire.CMD_READ || r.type() == Wire.CMD_WRITE)
                ? BufferPool.capacity((int) r.length()) : 0;
        acquire(reserve);
        ByteBuffer payload = null;
        boolean handedOff = false;
        try {
            if (hasPayload) {
                payload = server.buffers().take((int) r.length());
                readFully(payload); // client vanishing mid-payload: the write was never acknowledged
                payload.flip();
            }
            Runnable work = work(r, payload, reserve);
            inlineNext = inlinable(r);
            handedOff = true;
            return work;
        } finally {
            if (!handedOff) { // any Throwable (IOException, direct-memory OutOfMemoryError ...)
                server.buffers().give(payload);
                release(reserve);
            }
        }
    }

    /**
     * Whether the reader should run {@code r} itself: a small READ/WRITE without FUA, no other
     * request in flight (this one holds the only slot), nothing more already buffered, and no
     * recent slow inline request.
     */
    private boolean inlinable(RequestDecoder.Request r) {
        if (inlineBackoff > 0) {
            inlineBackoff--;
            return false;
        }
        int type = r.type();
        return (type == Wire.CMD_READ || type == Wire.CMD_WRITE)
                && r.length() <= INLINE_MAX
                && (r.flags() & Wire.CMD_FLAG_FUA) == 0
                && slots.availablePermits() == MAX_REQUESTS - 1
                && !connection.in.hasRemaining();
    }

    /**
     * The request's execution; it owns {@code data} and {@code reserve} and releases both exactly
     * once. Never throws: {@link #execute} answers every Device failure; should anything else go
     * wrong (the error reply itself failing with an Error), the connection is broken off — its
     * readers end, so the connection drains and closes instead of leaving the client waiting for
     * a reply that will never come.
     */
    private Runnable work(RequestDecoder.Request r, ByteBuffer data, int reserve) {
        return () -> {
            try {
                var hook = server.executeHook();
                if (hook != null) {
                    hook.accept(r.cookie(), () -> inputLost);
                }
                // disconnect(), or the client's input lost: requests not yet started never run
                if (!connection.disconnected() && !inputLost) {
                    execute(r, data);
                }
            } catch (Throwable e) {
                breakOff(e);
            } finally {
                try {
                    server.buffers().give(data);
                } catch (Throwable e) { // e.g. no memory for the pool's queue node: the GC frees the buffer
                    breakOff(e);
                } finally {
                    release(reserve);
                }
            }
        };
    }

    /** ENOMEM for OutOfMemoryError, EIO for any other Error, else the Device mapping of {@link Errors}. */
    private static int errno(Throwable e) {
        return e instanceof OutOfMemoryError ? Wire.ENOMEM : e instanceof Error ? Wire.EIO : Errors.errno(e);
    }

    /** Last resort after a failure no reply could report: ends the connection (readers see end of input). */
    private void breakOff(Throwable e) {
        broken = true;
        connection.transport.shutdownInput();
        try {
            LOG.log(Level.ERROR, () -> "connection " + connection.id() + ": a request failed without a reply ("
                    + e + "); closing the connection", e);
        } catch (Throwable ignored) {
            // nothing left to report it with
        }
    }

    /**
     * Takes a request slot and {@code reserve} bytes of both budgets, blocking (backpressure). All
     * or nothing: if interrupted part-way, whatever was already taken is given back, so an
     * interrupted reader never leaks a slot that {@link #drain} would then wait for forever.
     */
    private void acquire(int reserve) throws IOException {
        int held = 0; // 1 = slot, 2 = slot + connection bytes
        try {
            slots.acquire();
            held = 1;
            if (reserve > 0) {
                bytes.acquire(reserve);
                held = 2;
                server.bytes().acquire(reserve);
            }
        } catch (InterruptedException e) {
            if (held == 2) {
                bytes.release(reserve);
            }
            if (held >= 1) {
                slots.release();
            }
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for memory for a request", e);
        }
    }

    private void release(int reserve) {
        if (reserve > 0) {
            server.bytes().release(reserve);
            bytes.release(reserve);
        }
        slots.release();
    }

    /** Waits until every in-flight request has replied. */
    private void drain() {
        slots.acquireUninterruptibly(MAX_REQUESTS);
        slots.release(MAX_REQUESTS);
    }

    private void readFully(ByteBuffer dst) throws IOException {
        OptionDecoder.transfer(connection.in, dst);
        if (!connection.transport.readFully(dst)) {
            throw new EOFException("client closed the connection in the middle of a write payload");
        }
    }

    private void discard(long length) throws IOException {
        long left = length;
        while (left > 0) {
            if (!connection.in.hasRemaining()) {
                connection.fill();
            }
            int n = (int) Math.min(left, connection.in.remaining());
            connection.in.position(connection.in.position() + n);
            left -= n;
        }
    }

    // ------------------------------------------------------------------ workers

    private void execute(RequestDecoder.Request r, ByteBuffer payload) {
        int type = r.type();
        if (!modified && (type == Wire.CMD_WRITE || type == Wire.CMD_WRITE_ZEROES || type == Wire.CMD_TRIM)) {
            modified = true;
        }
        long cookie = r.cookie();
        long offset = r.offset();
        boolean fua = (r.flags() & Wire.CMD_FLAG_FUA) != 0;
        Counters c = export.counters();
        try {
            switch (r.type()) {
                case Wire.CMD_READ -> read(r);
                case Wire.CMD_WRITE -> {
                    int n = payload.remaining();
                    device.write(payload, offset, fua ? WriteFlag.FUA : WriteFlag.NONE);
                    c.writes.increment();
                    c.bytesWritten.add(n);
                    connBytesWritten.add(n);
                    send(replies.ok(cookie, offset));
                }
                case Wire.CMD_FLUSH -> {
                    device.sync();
                    c.flushes.increment();
                    send(replies.ok(cookie, offset));
                }
                case Wire.CMD_TRIM -> {
                    device.discard(offset, r.length());
                    if (fua) {
                        device.sync();
                    }
                    c.trims.increment();
                    send(replies.ok(cookie, offset));
                }
                case Wire.CMD_CACHE -> {
                    device.prefetch(offset, r.length());
                    c.caches.increment();
                    send(replies.ok(cookie, offset));
                }
                case Wire.CMD_WRITE_ZEROES -> {
                    boolean mayUnmap = (r.flags() & Wire.CMD_FLAG_NO_HOLE) == 0;
                    if ((r.flags() & Wire.CMD_FLAG_FAST_ZERO) != 0) {
                        // Fast or not at all. An NBD client device passes the question upstream.
                        boolean zeroed = device instanceof NbdDevice upstream
                                ? upstream.writeZeroesIfFast(offset, r.length(), mayUnmap)
                                : device.capabilities().has(Capability.WRITE_ZEROES);
                        if (!zeroed) {
                            c.error(Wire.ENOTSUP);
                            connErrors.increment();
                            send(replies.error(cookie, offset, Wire.ENOTSUP,
                                    "write-zeroes on this device is not faster than writing"));
                            return;
                        }
                        if (!(device instanceof NbdDevice)) {
                            device.writeZeroes(offset, r.length(), mayUnmap);
                        }
                    } else {
                        device.writeZeroes(offset, r.length(), mayUnmap);
                    }
                    if (fua) {
                        device.sync();
                    }
                    c.writeZeroes.increment();
                    send(replies.ok(cookie, offset));
                }
                case Wire.CMD_BLOCK_STATUS -> blockStatus(r);
                default -> throw new IllegalStateException("unvalidated command " + r.type());
            }
        } catch (Throwable e) { // any failure of the Device gets an error reply, never silence
            fail(r, e);
        }
    }

    /**
     * Answers a request whose Device call failed: IOExceptions and RuntimeExceptions map through
     * {@link Errors}, {@link OutOfMemoryError} to ENOMEM, any other {@link Error} (an
     * AssertionError, StackOverflowError or LinkageError from a Device) to EIO with the error's
     * class in the message, logged at ERROR. The connection and the server go on: the error was
     * confined to this request, whose buffer and budget the caller still releases.
     */
    private void fail(RequestDecoder.Request r, Throwable e) {
        long cookie = r.cookie();
        long offset = r.offset();
        int errno = errno(e);
        export.counters().error(errno);
        connErrors.increment();
        String message = e instanceof Error ? "internal error in export '" + export.name() + "': " + e
                : String.valueOf(e.getMessage());
        if (e instanceof Error && !(e instanceof OutOfMemoryError)) {
            LOG.log(Level.ERROR, () -> "export '" + export.name() + "' command " + r.type() + " at " + offset
                    + " threw " + e + "; answered EIO", e);
        } else if (errno == Wire.EIO || errno == Wire.ENOMEM) {
            LOG.log(Level.WARNING, () -> "export '" + export.name() + "' command " + r.type() + " at " + offset
                    + " failed: " + e, e);
        }
        try {
            send(replies.error(cookie, offset, errno, message));
        } catch (IOException ignored) {
            // connection already broken; send() marked it
        }
    }

    private void read(RequestDecoder.Request r) throws IOException {
        long offset = r.offset();
        int length = (int) r.length();
        long cookie = r.cookie();
        ByteBuffer data = server.buffers().take(length);
        try {
            read(r, data);
        } finally {
            server.buffers().give(data);
        }
    }

    private void read(RequestDecoder.Request r, ByteBuffer data) throws IOException {
        long offset = r.offset();
        int length = (int) r.length();
        long cookie = r.cookie();
        Counters c = export.counters();
        if (replies.style() == ReplyEncoder.Style.SIMPLE) {
            device.read(data, offset);
            data.flip();
            count(c, length);
            send(ReplyEncoder.simple(cookie, 0), data);
            return;
        }
        if (length == 0) {
            count(c, 0);
            send(replies.done(cookie, offset));
            return;
        }
        boolean df = (r.flags() & Wire.CMD_FLAG_DF) != 0;
        if (df || length < HOLE_SCAN_MIN) { // one data chunk: no extent lookup, no lists
            device.read(data, offset);
            data.flip();
            count(c, length);
            send(replies.offsetDataHeader(Wire.REPLY_FLAG_DONE, cookie, offset, offset, length), data);
            return;
        }
        List<Extent> extents = device.capabilities().has(Capability.EXTENTS)
                ? device.extents(offset, length) : List.of(new Extent(offset, length, Extent.Type.DATA));
        List<ByteBuffer> out = new ArrayList<>(extents.size() * 2);
        for (int i = 0; i < extents.size(); i++) {
            Extent e = extents.get(i);
            int chunkFlags = i == extents.size() - 1 ? Wire.REPLY_FLAG_DONE : 0;
            if (e.type().readsAsZeros()) {
                out.add(replies.offsetHole(chunkFlags, cookie, offset, e.offset(), (int) e.length()));
            } else {
                ByteBuffer slice = data.slice((int) (e.offset() - offset), (int) e.length());
                device.read(slice, e.offset());
                slice.flip();
                out.add(replies.offsetDataHeader(chunkFlags, cookie, offset, e.offset(), (int) e.length()));
                out.add(slice);
            }
        }
        count(c, length);
        send(out.toArray(new ByteBuffer[0]));
    }

    private void count(Counters c, int length) {
        c.reads.increment();
        c.bytesRead.add(length);
        connBytesRead.add(length);
    }

    private void blockStatus(RequestDecoder.Request r) throws IOException {
        long offset = r.offset();
        long span = Math.min(r.length(), BLOCK_STATUS_SPAN);
        List<Extent> extents = device.extents(offset, span);
        List<ReplyEncoder.Descriptor> descriptors = new ArrayList<>();
        long limit = replies.style() == ReplyEncoder.Style.EXTENDED ? Long.MAX_VALUE : 0xFFFF_FFFFL;
        boolean one = (r.flags() & Wire.CMD_FLAG_REQ_ONE) != 0;
        for (Extent e : extents) {
            int status = switch (e.type()) {
                case HOLE -> Wire.STATE_HOLE | Wire.STATE_ZERO;
                case ZERO -> Wire.STATE_ZERO;
                case DATA -> 0;
            };
            int last = descriptors.size() - 1;
            if (last >= 0 && descriptors.get(last).status() == status
                    && descriptors.get(last).length() + e.length() <= limit) {
                descriptors.set(last, new ReplyEncoder.Descriptor(descriptors.get(last).length() + e.length(), status));
            } else {
                descriptors.add(new ReplyEncoder.Descriptor(Math.min(e.length(), limit), status));
            }
            if (descriptors.size() >= MAX_DESCRIPTORS) {
                break;
            }
        }
        if (one && descriptors.size() > 1) {
            descriptors = List.of(descriptors.getFirst());
        }
        export.counters().blockStatus.increment();
        send(replies.blockStatus(Wire.REPLY_FLAG_DONE, r.cookie(), offset, Wire.BASE_ALLOCATION_ID, descriptors));
    }

    /** Writes one whole reply under the write lock; marks the connection broken on failure. */
    private void send(ByteBuffer... buffers) throws IOException {
        writeLock.lock();
        try {
            if (broken) {
                throw new IOException("connection is broken");
            }
            sendingSince = System.nanoTime();
            connection.transport.write(buffers);
        } catch (IOException e) {
            if (!broken) {
                broken = true;
                connection.transport.shutdownInput();
            }
            throw e;
        } finally {
            sendingSince = 0;
            writeLock.unlock();
        }
    }

    /**
     * How long the reply being sent right now has been blocked, in nanoseconds at {@code now}, or 0
     * if no send is in progress. A client that stops reading its replies shows up here.
     */
    long sendBlockedNanos(long now) {
        long since = sendingSince;
        return since == 0 ? 0 : now - since;
    }
}

package dev.volumes.nbd;

import dev.volumes.device.DeviceClosedException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The connections of one {@link NbdDevice}, the request retry loop and the journal replay.
 *
 * <p>Design: a fixed number of slots (1, or the configured count when the server advertised
 * CAN_MULTI_CONN), each holding its current {@link ClientWire}. Requests go to the slots
 * round robin. A request whose connection died before its final reply
 * ({@link ClientWire.ConnectionLostException}) is sent again; the caller that finds a slot
 * dead reconnects it under the slot's lock (others wait on the lock), with exponential backoff
 * (50 ms doubling to 2 s) until {@code reconnectDeadline} after the first failure. A handshake
 * refusal, a changed export size or a passed deadline fails the whole client ({@code failure}):
 * every later request throws at once. No lock is held while waiting for a reply; the slot lock is
 * held across the reconnect handshake (and replay) only.
 *
 * <p>Replay ({@link ReplayJournal}): a reconnected connection is published only after it re-sent
 * the journal, unless a replay that began after the old connection dropped already did. During a
 * replay the <em>gate</em> is closed: {@link ClientWire#submit} refuses every new request
 * ({@link ClientWire.GateClosedException}, nothing sent) and callers wait in {@link #connection}
 * for it to open; the replayer first waits until every other live connection has no request in
 * flight (so no acknowledgement or flush can change the journal, and nothing newer can reach the
 * server before the older journal contents), then sends the snapshot on the new connection,
 * pipelined, and opens the gate. A drop during the replay fails the attempt (backoff, then a new
 * connection replays again); an error reply to a replayed request fails the device stop for
 * modifications. The per-request cost is one volatile read of the gate flag.
 */
final class Slots implements ClientWire.Listener {

    private static final long BACKOFF_START_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long BACKOFF_MAX_NANOS = TimeUnit.SECONDS.toNanos(2);

    private static final class Slot {
        final ReentrantLock lock = new ReentrantLock();
        volatile ClientWire connection;
        /** A reconnected connection not yet published (replaying the journal); {@link #abort} kills it too. */
        volatile ClientWire fresh;
        long downSinceNanos;
    }

    private final NbdDevice device;
    private final NbdClient.Config config;
    private final Slot[] slots;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicInteger waiting = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong reconnects = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong resent = new java.util.concurrent.atomic.AtomicLong();
    private volatile IOException failure;
    /** Requests are held back while a replay runs (see the class comment). */
    private volatile boolean gateClosed;
    private final ReentrantLock gateLock = new ReentrantLock();
    private final java.util.concurrent.locks.Condition gateOpened = gateLock.newCondition();
    /** Serialises replays. */
    private final ReentrantLock replayLock = new ReentrantLock();
    /** Connections that dropped so far; a drop numbered at most {@link #replayedThrough} needs no replay. */
    private final java.util.concurrent.atomic.AtomicLong drops = new java.util.concurrent.atomic.AtomicLong();
    private volatile long replayedThrough;
    private final java.util.concurrent.atomic.AtomicLong replays = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong replayed = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean closing; // no more reconnects
    private volatile boolean stopped; // watchdog ends
    /** Counted down by {@link #abort} and {@link #beginClose}: wakes reconnects sleeping in their backoff. */
    private final java.util.concurrent.CountDownLatch stopping = new java.util.concurrent.CountDownLatch(1);

    Slots(NbdDevice device, NbdClient.Config config, ClientHandshake.Session first) throws IOException {
        this.device = device;
        this.config = config;
        int n = (first.flags() & Wire.TFLAG_CAN_MULTI_CONN) != 0 ? config.connections() : 1;
        this.slots = new Slot[n];
        for (int i = 0; i < n; i++) {
            slots[i] = new Slot();
        }
        slots[0].connection = new ClientWire(first, config.target().describe(), this);
        long period = Math.clamp(config.requestTimeout().toMillis() / 4, 10, 1000);
        Thread.ofVirtual().name("nbd-client-watchdog " + config.target().describe()).start(() -> watch(period));
        try {
            for (int i = 1; i < n; i++) {
                slots[i].connection = new ClientWire(handshake(), config.target().describe(), this);
            }
        } catch (IOException | RuntimeException e) {
            closeAll(false);
            throw e;
        }
    }

    /** Connections re-established after a drop. */
    long reconnects() {
        return reconnects.get();
    }

    /** Requests sent again because their connection died before the reply. */
    long resent() {
        return resent.get();
    }

    int count() {
        return slots.length;
    }

    /** Journal replays completed after reconnects. */
    long replays() {
        return replays.get();
    }

    /** Requests re-sent from the journal in those replays. */
    long replayedRequests() {
        return replayed.get();
    }

    ClientHandshake.Session sessionOfFirst() {
        return slots[0].connection.session();
    }

    @Override
    public void acknowledged(ClientWire connection, ClientWire.Pending request) {
        device.acknowledged(connection, request);
    }

    /** Tests only: runs on a reader thread when its connection dropped, before the drop is handled. */
    volatile Runnable beforeDropForTest;

    @Override
    public void dropped(ClientWire connection, IOException cause) {
        Runnable hook = beforeDropForTest;
        if (hook != null) {
            hook.run();
        }
        connection.diedAt = drops.incrementAndGet();
        device.dropped(connection, cause);
    }

    @Override
    public boolean gateClosed() {
        return gateClosed;
    }

    /** Runs one request to its final reply, across reconnects. */
    ClientWire.Reply execute(NbdDevice.Request r) throws IOException {
        while (true) {
            ClientWire c = connection(pick(), r);
            ClientWire.Pending p;
            try {
                p = c.submit(r.type(), r.flags(), r.offset(), r.length(), r.payload(), r.dst(), r.copy(), false);
            } catch (ClientWire.ConnectionLostException e) {
                continue; // dead, or the gate is closed: connection() waits for it
            }
            ClientWire.Reply reply = await(c, p, r);
            if (reply != null) {
                return reply;
            }
            resent.incrementAndGet();
        }
    }

    /**
     * Sends every request before waiting for any (pipelining), then collects the replies; lost
     * ones are re-executed. Waits for all of them even after a failure, so no reply can still be
     * copied into a caller's buffer after this returns; throws the first failure.
     */
    List<ClientWire.Reply> executeAll(List<NbdDevice.Request> requests) throws IOException {
        if (requests.size() == 1) {
            return List.of(execute(requests.getFirst()));
        }
        List<ClientWire> conns = new ArrayList<>();
        List<ClientWire.Pending> sent = new ArrayList<>();
        IOException first = null;
        for (NbdDevice.Request r : requests) {
            ClientWire c = null;
            ClientWire.Pending p = null;
            if (first == null) {
                try {
                    c = connection(pick(), r);
                    p = c.submit(r.type(), r.flags(), r.offset(), r.length(), r.payload(), r.dst(), r.copy(), false);
                } catch (ClientWire.ConnectionLostException e) {
                    p = null;
                } catch (IOException e) {
                    first = e;
                }
            }
            conns.add(c);
            sent.add(p);
        }
        List<ClientWire.Reply> out = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            NbdDevice.Request r = requests.get(i);
            try {
                ClientWire.Reply reply = sent.get(i) == null ? null : await(conns.get(i), sent.get(i), r);
                if (reply == null && first == null) {
                    resent.incrementAndGet();
                    reply = execute(r);
                }
                out.add(reply);
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
                out.add(null);
            }
        }
        if (first != null) {
            throw first;
        }
        return out;
    }

    private Slot pick() {
        return slots.length == 1 ? slots[0] : slots[Math.floorMod(next.getAndIncrement(), slots.length)];
    }

    /** The final reply, or null if the connection died first (the request may be retried). */
    private ClientWire.Reply await(ClientWire c, ClientWire.Pending p, NbdDevice.Request r)
            throws IOException {
        try {
            return p.future.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof ClientWire.ConnectionLostException) {
                return null;
            }
            if (!(e.getCause() instanceof ClientWire.RequestTimeoutException)) {
                throw new IOException(device.describe(r) + ": " + e.getCause(), e.getCause());
            }
            IOException t = new IOException(device.describe(r) + ": no reply within " + config.requestTimeout()
                    + "; the connection was closed (the request may still complete on the server)");
            c.abort(t); // returns once the reader no longer touches the caller's buffer
            throw t;
        } catch (InterruptedException e) {
            InterruptedIOException t = new InterruptedIOException(device.describe(r) + ": interrupted while waiting"
                    + " for the reply; the connection was closed");
            c.abort(t);
            Thread.currentThread().interrupt();
            throw t;
        } catch (java.util.concurrent.CancellationException e) {
            throw new IOException(device.describe(r) + ": cancelled", e);
        }
    }

    private ClientWire connection(Slot slot, NbdDevice.Request r) throws IOException {
        IOException f = failure;
        if (f != null) {
            throw new IOException(device.describe(r) + " not sent: " + f.getMessage(), f);
        }
        if (gateClosed) {
            awaitGate(r);
        }
        ClientWire c = slot.connection;
        if (c != null && c.alive()) {
            return c;
        }
        waiting.incrementAndGet();
        slot.lock.lock();
        try {
            return reconnect(slot, r);
        } finally {
            slot.lock.unlock();
            waiting.decrementAndGet();
        }
    }

    private ClientWire reconnect(Slot slot, NbdDevice.Request r) throws IOException {
        long backoff = BACKOFF_START_NANOS;
        IOException last = null;
        while (true) {
            IOException f = failure;
            if (f != null) {
                throw new IOException(device.describe(r) + " not sent: " + f.getMessage(), f);
            }
            ClientWire c = slot.connection;
            if (c != null && c.alive()) {
                slot.downSinceNanos = 0;
                return c;
            }
            if (closing) {
                throw new DeviceClosedException(device.name(), r.what());
            }
            long now = System.nanoTime();
            if (slot.downSinceNanos == 0) {
                slot.downSinceNanos = now;
            }
            long deadline = slot.downSinceNanos + config.reconnectDeadline().toNanos();
            if (now - deadline >= 0 && (last != null || config.reconnectDeadline().isZero())) {
                throw fail(new IOException("nbd server " + device.server() + " export '"
                        + config.target().exportName() + "' unreachable for "
                        + TimeUnit.NANOSECONDS.toMillis(now - slot.downSinceNanos) + " ms (reconnect deadline "
                        + config.reconnectDeadline() + "); not acknowledged and failed: " + r.what() + " of "
                        + r.length() + " bytes at offset " + r.offset() + " and " + (waiting.get() - 1)
                        + " other request(s) waiting for the connection"
                        + (last == null ? "" : "; last error: " + last.getMessage()), last));
            }
            try {
                long left = Math.max(TimeUnit.MILLISECONDS.toNanos(100), deadline - System.nanoTime());
                ClientHandshake.Session s = ClientHandshake.connect(config.target(),
                        java.time.Duration.ofNanos(Math.min(config.handshakeTimeout().toNanos(), left)));
                if (s.size() != device.exportSize()) {
                    s.transport().close();
                    throw fail(new IOException("nbd server " + device.server() + " export '"
                            + config.target().exportName() + "' changed size across a reconnect: " + device.exportSize()
                            + " -> " + s.size() + " bytes; refusing to continue"));
                }
                if (s.extended() != device.extendedHeaders()) {
                    s.transport().close();
                    throw fail(new IOException("nbd server " + device.server() + " export '"
                            + config.target().exportName() + "' " + (s.extended() ? "offered" : "no longer offers")
                            + " extended headers after a reconnect; refusing to continue"));
                }
                if (failure != null) { // aborted during the handshake: send nothing on it
                    s.transport().close();
                    throw notSent(r, failure);
                }
                ClientWire fresh = new ClientWire(s, config.target().describe(), this);
                slot.fresh = fresh; // before the check below: abort() sees it or we see the failure
                try {
                    if (failure != null) {
                        throw notSent(r, failure);
                    }
                    replay(c, fresh, r);
                    slot.connection = fresh;
                    if (failure != null) { // abort() may have read the slot before it was published
                        throw notSent(r, failure);
                    }
                } catch (IOException | RuntimeException e) {
                    fresh.abort(e instanceof IOException io ? io : new IOException(e));
                    throw e;
                } finally {
                    slot.fresh = null;
                }
                slot.downSinceNanos = 0;
                reconnects.incrementAndGet();
                return fresh;
            } catch (NbdRefusedException e) {
                throw fail(e);
            } catch (IOException e) {
                IOException stop = failure;
                if (stop != null) {
                    throw e == stop || e.getCause() == stop ? e : notSent(r, stop);
                }
                last = e;
            }
            long sleep = Math.min(backoff, Math.max(0, deadline - System.nanoTime()));
            try {
                // woken early by abort() or close(): the loop then throws without connecting
                stopping.await(Math.max(sleep, TimeUnit.MILLISECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(device.describe(r) + ": interrupted while reconnecting");
            }
            backoff = Math.min(backoff * 2, BACKOFF_MAX_NANOS);
        }
    }

    private void awaitGate(NbdDevice.Request r) throws IOException {
        gateLock.lock();
        try {
            while (gateClosed) {
                gateOpened.await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(device.describe(r) + ": interrupted while a reconnect replayed the journal");
        } finally {
            gateLock.unlock();
        }
    }

    private void setGate(boolean closed) {
        gateLock.lock();
        try {
            gateClosed = closed;
            if (!closed) {
                gateOpened.signalAll();
            }
        } finally {
            gateLock.unlock();
        }
    }

    /** Most replayed requests in flight at once. */
    private static final int REPLAY_WINDOW = 64;

    /**
     * Re-sends the journal on {@code fresh} (not yet published) if {@code old}'s drop may have lost
     * acknowledged unflushed writes and no replay since covered it. Throws if {@code fresh} failed
     * (the caller retries with a new connection); an error reply fails the device stop instead.
     */
    private void replay(ClientWire old, ClientWire fresh, NbdDevice.Request r) throws IOException {
        if (old == null) {
            return;
        }
        // Its drop (and number) is recorded before its reader ends. Also without a journal: the
        // drop may have to mark durability lost, which must happen before the fresh connection
        // carries a request, or a sync sent on it could succeed across a lost acknowledged write.
        old.joinReader();
        ReplayJournal journal = device.journal();
        if (!journal.enabled()) {
            return;
        }
        replayLock.lock();
        try {
            if (old.diedAt == 0 || old.diedAt <= replayedThrough || journal.entries() == 0) {
                return; // not dropped, covered by a replay that began after the drop, or nothing to re-send
            }
            for (Slot s : slots) { // count every drop already visible, so one replay covers them all
                ClientWire c = s.connection;
                if (c != null && c != old && !c.alive()) {
                    c.joinReader();
                }
            }
            long through = drops.get();
            setGate(true);
            try {
                awaitQuiet(fresh, r);
                List<ReplayJournal.Entry> entries = journal.snapshot();
                java.util.ArrayDeque<ClientWire.Pending> window = new java.util.ArrayDeque<>();
                java.util.ArrayDeque<ReplayJournal.Entry> sent = new java.util.ArrayDeque<>();
                for (int i = 0; i < entries.size() || !window.isEmpty();) {
                    if (i < entries.size() && window.size() < REPLAY_WINDOW) {
                        ReplayJournal.Entry e = entries.get(i++);
                        window.add(fresh.submit(e.type(), e.flags(), e.offset(), e.length(),
                                e.data() == null ? null : e.data().duplicate(), null, null, true));
                        sent.add(e);
                        continue;
                    }
                    ClientWire.Pending p = window.poll();
                    ReplayJournal.Entry e = sent.poll();
                    ClientWire.Reply reply = awaitReplay(fresh, p, r);
                    if (reply.errno() != 0) {
                        device.replayFailed(e, reply);
                    }
                }
                replayedThrough = Math.max(replayedThrough, through);
                replays.incrementAndGet();
                replayed.addAndGet(entries.size());
            } finally {
                setGate(false);
            }
        } finally {
            replayLock.unlock();
        }
    }

    private ClientWire.Reply awaitReplay(ClientWire fresh, ClientWire.Pending p, NbdDevice.Request r)
            throws IOException {
        try {
            // The new connection is not published yet, so the watchdog does not see it: time out here.
            return p.future.get(config.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IOException("nbd server " + device.server() + ": a replayed request got no reply within "
                    + config.requestTimeout() + "; reconnecting again", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(device.describe(r) + ": interrupted while replaying the journal");
        }
    }

    /** Waits until no live connection but {@code fresh} has a request in flight (the gate is closed). */
    private void awaitQuiet(ClientWire fresh, NbdDevice.Request r) throws IOException {
        for (Slot s : slots) {
            while (true) {
                ClientWire c = s.connection;
                if (c == null || c == fresh || !c.alive() || c.idle()) {
                    break;
                }
                try {
                    Thread.sleep(1); // rare (a replay with other connections busy), bounded by the request timeout
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(device.describe(r) + ": interrupted before replaying the journal");
                }
            }
        }
    }

    private IOException notSent(NbdDevice.Request r, IOException f) {
        return new IOException(device.describe(r) + " not sent: " + f.getMessage(), f);
    }

    private IOException fail(IOException cause) {
        synchronized (this) {
            if (failure == null) {
                failure = cause;
            }
        }
        return cause;
    }

    private ClientHandshake.Session handshake() throws IOException {
        return ClientHandshake.connect(config.target(), config.handshakeTimeout());
    }

    /** Expires requests older than the request timeout, until the client closes. */
    private void watch(long periodMillis) {
        long timeout = config.requestTimeout().toNanos();
        while (!stopped) {
            try {
                Thread.sleep(periodMillis);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Slot s : slots) {
                ClientWire c = s.connection;
                if (c != null) {
                    c.expire(now, timeout);
                }
            }
        }
    }

    /** Tests only: kills the connection of slot {@code i} as a network failure would. */
    void abortForTest(int i) {
        slots[i].connection.abort(new IOException("connection " + i + " cut by a test"));
    }

    /** Stops reconnecting: requests waiting for a connection fail with DeviceClosedException. */
    void beginClose() {
        closing = true;
        stopping.countDown();
    }

    /**
     * Stops at once ({@link NbdDevice#abort}): fails the client with {@code cause}, so no request
     * is sent any more and nothing is reconnected or replayed, and kills every connection — also
     * one reconnected but not yet published (its replay stops) — so that every request waiting for
     * a reply fails locally. A handshake under way is closed as soon as it returns.
     */
    void abort(IOException cause) {
        fail(cause);
        closing = true;
        stopping.countDown();
        for (Slot s : slots) {
            for (ClientWire c : new ClientWire[] {s.connection, s.fresh}) {
                if (c != null) {
                    c.abort(cause);
                }
            }
        }
    }

    /** Disconnects every connection (DISC if {@code graceful}, else just closes). */
    void closeAll(boolean graceful) {
        closing = true;
        stopped = true;
        for (Slot s : slots) {
            ClientWire c = s.connection;
            if (c == null) {
                continue;
            }
            if (graceful) {
                c.disconnect();
            } else {
                c.abort(new IOException("client closed"));
            }
        }
    }
}

package dev.volumes.replica;

import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The replication engine: a {@link ReplicatedDevice} over N {@link Member}s.
 *
 * <h2>Design</h2>
 * <ul>
 *   <li><b>Write path</b> (write, write-zeroes, discard): take the range in {@link RangeLocks}
 *       (only overlapping requests wait), set the range's dirty bits and make them durable if any
 *       is not yet, also one a concurrent write set and is still publishing ({@link DirtyMap}:
 *       the activity log), snapshot the targets (in-sync and rebuilding
 *       members), run the request on all of them concurrently on virtual threads, wait for each
 *       until the write timeout. Failures and timeouts are dropped out ({@link StatePublisher#dropOut}) before
 *       the ack rule is applied: every target still in sync must have acknowledged and at least
 *       {@code required} in-sync members must hold the write. Invariant: a generation is never
 *       published to fewer than {@code required} members; a failure that would need it stops
 *       writes instead ({@link #refuseMinority}), after asking the failed members whether a newer
 *       term claimed them.</li>
 *   <li><b>Membership lock</b> ({@link #membership}) serializes state changes: drop-outs, rebuild
 *       start and finish, replace. A change commits the state file and, for drop-outs, writes the
 *       bumped generation into the headers of the members still in sync, before the write that
 *       caused it returns. Only the failure path and rebuild boundaries take it; the common write
 *       path reads the volatile member states without locks.</li>
 *   <li><b>Durable state</b> (generation, state file, header publication) lives in
 *       {@link StatePublisher}.</li>
 *   <li><b>Fencing</b>: a {@link FencedException} from any member makes the engine fail-stop:
 *       {@link #fenced} is set and every later operation throws it.</li>
 *   <li><b>Hung requests</b>: a timed-out request stays counted in {@link Member#inflight}; a
 *       rebuild does not reuse the member's old device until that count drains, so a late write
 *       can never land on a freshly copied region.</li>
 * </ul>
 */
final class Engine implements ReplicatedDevice {

    final Config config;
    final String name;
    final long dataSize;
    final List<Member> members;
    final int required;
    final RangeLocks ranges = new RangeLocks();
    final DirtyMap dirty;
    final StateStore store;
    final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    final FanOut io;
    final ReentrantLock membership = new ReentrantLock();
    final StatePublisher state;
    private volatile long lastSyncMark = -1;
    private volatile FencedException fenced;
    /** Set when a failure would have left fewer than {@code required} in sync: writes refused. */
    private volatile IOException quorumLost;
    private volatile boolean closed;
    final Rebuilder rebuilder;

    Engine(Config config, List<Member> members, long dataSize, StateStore store, DirtyMap dirty, long generation) {
        this.config = config;
        this.name = config.name();
        this.members = List.copyOf(members);
        this.dataSize = dataSize;
        this.required = config.mode().required(members.size());
        this.store = store;
        this.dirty = dirty;
        this.state = new StatePublisher(this, generation);
        this.io = new FanOut(name, executor, config.writeTimeout());
        this.rebuilder = new Rebuilder(this);
    }

    // ---------------------------------------------------------------- Device

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        checkOpen("size");
        return dataSize;
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.of(Capability.FUA, Capability.WRITE_ZEROES, Capability.DISCARD_READS_ZEROES);
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        checkOpen("read");
        checkFenced("read");
        Bounds.checkRange(name, "read", offset, dst.remaining(), dataSize);
        if (!dst.hasRemaining()) {
            return;
        }
        List<String> errors = new ArrayList<>();
        for (Member m : readOrder()) {
            Device d = m.device;
            if (m.state != ReplicaState.IN_SYNC || d == null) {
                continue;
            }
            ByteBuffer view = dst.duplicate();
            List<FanOut.Failure> failed = io.run(List.of(m), dev -> dev.read(view, offset));
            if (failed.isEmpty()) {
                dst.position(dst.limit());
                return;
            }
            Throwable e = failed.getFirst().error();
            checkFencedBy(failed, "read of " + dst.remaining() + " bytes at " + offset);
            if (e instanceof TimeoutException || e.getCause() instanceof TimeoutException) {
                try {
                    state.dropOut(failed, "read at " + offset);
                } catch (FencedException fe) {
                    throw fe;
                } catch (IOException refused) {
                    // too few would remain: the member stays in sync, the read tries the next one
                }
            }
            errors.add(m.id + ": " + e.getMessage());
        }
        throw new IOException(name + ": read of " + dst.remaining() + " bytes at " + offset
                + (errors.isEmpty() ? " found no in-sync replica (" + describeStates() + ")"
                        : " failed on every in-sync replica: " + String.join("; ", errors)));
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        int length = src.remaining();
        ByteBuffer data = src.slice();
        mutate("write" + (flag == WriteFlag.FUA ? "(FUA)" : ""), offset, length,
                d -> d.write(data.duplicate(), offset, flag));
        src.position(src.limit());
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        mutate("write-zeroes", offset, length, d -> d.writeZeroes(offset, length, mayUnmap));
    }

    /** Discard is mirrored as write-zeroes that may unmap, so replicas stay byte-identical. */
    @Override
    public void discard(long offset, long length) throws IOException {
        mutate("discard", offset, length, d -> d.writeZeroes(offset, length, true));
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        checkOpen("extents");
        Bounds.checkRange(name, "extents", offset, length, dataSize);
        for (Member m : readOrder()) {
            Device d = m.device;
            if (m.state == ReplicaState.IN_SYNC && d != null) {
                // bounded by the write timeout like every replica request (a hung one tries the next)
                java.util.concurrent.atomic.AtomicReference<List<Extent>> map =
                        new java.util.concurrent.atomic.AtomicReference<>();
                if (io.run(List.of(m), dev -> map.set(dev.extents(offset, length))).isEmpty()) {
                    return map.get();
                }
            }
        }
        return length == 0 ? List.of() : List.of(new Extent(offset, length, Extent.Type.DATA));
    }

    @Override
    public void sync() throws IOException {
        checkOpen("sync");
        checkFenced("sync");
        checkQuorum("sync");
        long mark = dirty.mark();
        List<Member> targets = writeTargets();
        List<FanOut.Failure> failed = io.run(targets, Device::sync);
        settle("sync", targets, failed);
        if (failed.isEmpty() && allInSync()) {
            long previous = lastSyncMark;
            if (previous >= 0) {
                dirty.clearQuiescent(previous, mark);
            }
            lastSyncMark = mark;
        } else {
            lastSyncMark = -1;
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException first = null;
        try {
            if (state.failStop == null) {
                state.commitState();
            }
        } catch (IOException e) {
            first = e;
        }
        executor.shutdownNow();
        for (Member m : members) {
            Device d = m.device;
            if (d != null) {
                try {
                    d.close();
                } catch (IOException e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        }
        try {
            store.close();
        } catch (IOException e) {
            if (first == null) {
                first = e;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Stops the engine's threads after a failed open, closing nothing the caller owns. */
    void abandon() {
        closed = true;
        executor.shutdownNow();
    }

    // ------------------------------------------------------ ReplicatedDevice

    @Override
    public long term() {
        return config.term();
    }

    @Override
    public long generation() {
        return state.generation();
    }

    @Override
    public List<ReplicaStatus> status() {
        return members.stream().map(Member::status).toList();
    }

    @Override
    public Optional<IOException> writeFailure() {
        FencedException f = fenced;
        if (f != null) {
            return Optional.of(f);
        }
        IOException stop = state.failStop;
        if (stop != null) {
            return Optional.of(stop);
        }
        return Optional.ofNullable(quorumLost);
    }

    @Override
    public int dirtyRegions() {
        return dirty.dirtyCount();
    }

    @Override
    public RebuildReport rebuild(String replicaId) throws IOException {
        checkOpen("rebuild");
        checkFenced("rebuild");
        checkQuorum("rebuild");
        return rebuilder.rebuild(member(replicaId));
    }

    @Override
    public void replace(String replicaId, Device device) throws IOException {
        replaceWith(member(replicaId), null, device);
    }

    @Override
    public void replace(String replicaId, ReplicaConnector connector) throws IOException {
        if (connector == null) {
            throw new IllegalArgumentException("connector is null");
        }
        replaceWith(member(replicaId), connector, null);
    }

    private void replaceWith(Member m, ReplicaConnector connector, Device device) throws IOException {
        checkOpen("replace");
        checkFenced("replace");
        if (device != null && device.size() - ReplicaHeader.AREA != dataSize) {
            throw new IOException(name + ": replacement for " + m.id + " has " + device.size() + " bytes, needs "
                    + (dataSize + ReplicaHeader.AREA));
        }
        if (device != null) {
            // a used volume may carry a header with a high generation: it must never be taken as
            // the freshest copy (after a crash before its full rebuild finished)
            ReplicaHeader.wipe(device);
        }
        membership.lock();
        try {
            if (m.state != ReplicaState.OUT_OF_SYNC || m.rebuilding.get()) {
                throw new IllegalStateException(name + ": replace " + m.id + ": it is " + m.state
                        + "; only an out-of-sync replica can be replaced");
            }
            Device old = m.device;
            boolean session = m.connector != null;
            m.connector = connector;
            m.device = device;
            m.needsFull = true;
            m.ownRegions = null;
            m.headerGeneration = 0;
            m.reason = "replaced; needs a full rebuild";
            state.commitState();
            if (old != null && session) {
                // stopped now even with requests in flight: they fail locally (still counted in
                // inflight, which the rebuild waits for) and it can never reconnect or replay
                Sessions.abandon(old, "replaced", executor);
            } else if (old != null && m.inflight.get() == 0) {
                closeQuietly(old);
            }
        } finally {
            membership.unlock();
        }
    }

    // ------------------------------------------------------------- internals

    Member member(String id) {
        for (Member m : members) {
            if (m.id.equals(id)) {
                return m;
            }
        }
        throw new IllegalArgumentException(name + ": unknown replica " + id + " (replicas: "
                + members.stream().map(x -> x.id).toList() + ")");
    }

    private void mutate(String op, long offset, long length, FanOut.Action action) throws IOException {
        checkOpen(op);
        checkFenced(op);
        IOException failStop = state.failStop;
        if (failStop != null) {
            throw new IOException(name + ": " + op + " refused: the state file failed earlier (reopen)", failStop);
        }
        checkQuorum(op);
        Bounds.checkRange(name, op, offset, length, dataSize);
        if (length == 0) {
            return;
        }
        try (RangeLocks.Lease lease = ranges.acquire(offset, length)) {
            long ticket = dirty.begin(offset, length);
            try {
                if (ticket != 0) {
                    state.persistDirty(ticket);
                }
                List<Member> targets = writeTargets();
                List<FanOut.Failure> failed = io.run(targets, action);
                settle(op + " of " + length + " bytes at " + offset, targets, failed);
            } finally {
                dirty.end(offset, length);
            }
        }
    }

    /**
     * Applies the ack rule after a fan-out: fencing first, then drop-outs, then the count.
     *
     * @throws IOException if the rule is not met, saying which replicas are out and why
     */
    private void settle(String what, List<Member> targets, List<FanOut.Failure> failed) throws IOException {
        checkFencedBy(failed, what);
        if (!failed.isEmpty()) {
            state.dropOut(failed, what);
        }
        state.awaitDropOuts();
        checkFenced(what);
        int held = 0;
        for (Member m : targets) {
            if (m.state == ReplicaState.IN_SYNC && failed.stream().noneMatch(f -> f.member() == m)) {
                held++;
            }
        }
        if (held < required) {
            probeFencing(failed, what);
            throw new IOException(name + ": " + what + " is held by " + held + " in-sync replica(s), mode "
                    + config.mode() + " needs " + required + " of " + members.size() + ": " + describeStates());
        }
    }

    /**
     * Called (under the membership lock) when dropping {@code failed} out would leave
     * {@code remaining < required} in sync: publishes nothing, asks the failed members whether a
     * newer term claimed them, and otherwise stops writes until reopened. Always throws.
     *
     * @throws FencedException if a failed member reports a newer term
     * @throws IOException otherwise, naming the failed members and why
     */
    void refuseMinority(List<FanOut.Failure> failed, String what, int remaining) throws IOException {
        probeFencing(failed, what);
        StringBuilder why = new StringBuilder();
        for (FanOut.Failure f : failed) {
            if (!why.isEmpty()) {
                why.append("; ");
            }
            why.append(f.member().id).append(": ").append(FanOut.describe(f.error()));
        }
        IOException e = new IOException(name + ": " + what + " failed on " + why + "; dropping "
                + (failed.size() == 1 ? "it" : "them") + " out would leave " + remaining + " in-sync replica(s), mode "
                + config.mode() + " needs " + required + " of " + members.size() + ", so generation "
                + state.generation() + " stays and nothing is published; writes are refused until reopened");
        if (quorumLost == null) {
            quorumLost = e;
        }
        throw e;
    }

    /**
     * After a failure, asks each failed connector replica, concurrently and within the write
     * timeout, whether a newer term claimed it (a claim cuts the old connection, which looks like
     * any dropped connection).
     *
     * @throws FencedException if one did
     */
    void probeFencing(List<FanOut.Failure> failed, String what) throws IOException {
        List<Member> asked = new ArrayList<>();
        List<Future<Device>> probes = new ArrayList<>();
        // per probe: 0 running, 1 its device was handed over, 2 given up (the probe closes it)
        List<java.util.concurrent.atomic.AtomicInteger> handoff = new ArrayList<>();
        for (FanOut.Failure f : failed) {
            ReplicaConnector c = f.member().connector;
            if (c != null) {
                asked.add(f.member());
                java.util.concurrent.atomic.AtomicInteger h = new java.util.concurrent.atomic.AtomicInteger();
                handoff.add(h);
                probes.add(executor.submit(() -> {
                    Device d = c.connect(config.term(), config.writer());
                    if (!h.compareAndSet(0, 1)) { // answered too late: nobody takes it, do not leave it open
                        Sessions.abandon(d, "fencing probe answered too late", executor);
                    }
                    return d;
                }));
            }
        }
        long deadline = System.nanoTime() + config.writeTimeout().toNanos();
        List<FanOut.Failure> answers = new ArrayList<>();
        for (int i = 0; i < probes.size(); i++) {
            Future<Device> probe = probes.get(i);
            try {
                Device d;
                try {
                    d = probe.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    if (handoff.get(i).compareAndSet(0, 2)) {
                        probe.cancel(true);
                        continue;
                    }
                    d = probe.get(); // handed over just now: it returns at once
                }
                Sessions.abandon(d, "fencing probe done", executor);
            } catch (ExecutionException e) {
                answers.add(new FanOut.Failure(asked.get(i), e.getCause()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(name + ": interrupted while probing replicas");
            }
        }
        checkFencedBy(answers, what);
    }

    List<Member> writeTargets() {
        List<Member> out = new ArrayList<>(members.size());
        for (Member m : members) {
            ReplicaState s = m.state;
            if ((s == ReplicaState.IN_SYNC || s == ReplicaState.REBUILDING) && m.device != null) {
                out.add(m);
            }
        }
        return out;
    }

    List<Member> readOrder() {
        List<Member> out = new ArrayList<>(members.size());
        for (Member m : members) {
            if (m.id.equals(config.preferred())) {
                out.addFirst(m);
            } else {
                out.add(m);
            }
        }
        return out;
    }

    boolean allInSync() {
        for (Member m : members) {
            if (m.state != ReplicaState.IN_SYNC) {
                return false;
            }
        }
        return true;
    }

    String describeStates() {
        StringBuilder b = new StringBuilder();
        for (Member m : members) {
            if (!b.isEmpty()) {
                b.append("; ");
            }
            b.append(m.id).append(' ').append(m.state);
            if (m.state != ReplicaState.IN_SYNC) {
                b.append(" (").append(m.reason).append(')');
            }
        }
        return b.toString();
    }

    void checkFencedBy(List<FanOut.Failure> failures, String what) throws FencedException {
        for (FanOut.Failure f : failures) {
            FencedException fe = NbdConnector.asFenced(f.error(), f.member().where(), config.term(), config.writer());
            if (fe != null) {
                FencedException wrapped = new FencedException(name + ": " + what + " on " + f.member().id, fe);
                if (fenced == null) {
                    fenced = wrapped;
                }
                throw wrapped;
            }
        }
    }

    void checkFenced(String op) throws FencedException {
        FencedException f = fenced;
        if (f != null) {
            throw new FencedException(name + ": " + op + " refused", f);
        }
    }

    void checkQuorum(String op) throws IOException {
        IOException q = quorumLost;
        if (q != null) {
            throw new IOException(name + ": " + op + " refused: too few replicas were left in sync after an earlier"
                    + " failure (reopen)", q);
        }
    }

    void checkOpen(String op) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name, op);
        }
    }

    Duration writeTimeout() {
        return config.writeTimeout();
    }

    static void closeQuietly(Device d) {
        try {
            d.close();
        } catch (IOException | RuntimeException e) {
            // the session is being abandoned; its failure does not matter
        }
    }

    @Override
    public String toString() {
        return "ReplicatedDevice[" + name + ", term " + config.term() + ", generation " + state.generation() + ": "
                + describeStates() + "]";
    }
}

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
 *       was new ({@link DirtyMap}: the activity log), snapshot the targets (in-sync and rebuilding
 *       members), run the request on all of them concurrently on virtual threads, wait for each
 *       until the write timeout. Failures and timeouts are dropped out ({@link #dropOut}) before
 *       the ack rule is applied: every target still in sync must have acknowledged and at least
 *       {@code required} in-sync members must hold the write.</li>
 *   <li><b>Membership lock</b> ({@link #membership}) serializes state changes: drop-outs, rebuild
 *       start and finish, replace. A change commits the state file and, for drop-outs, writes the
 *       bumped generation into the headers of the members still in sync, before the write that
 *       caused it returns. Only the failure path and rebuild boundaries take it; the common write
 *       path reads the volatile member states without locks.</li>
 *   <li><b>Commit monitor</b> ({@link #commitLock}) serializes state-file commits; a dirty-bit
 *       persist that finds its version already committed returns at once (group commit).</li>
 *   <li><b>Fencing</b>: a {@link FencedException} from any member makes the engine fail-stop:
 *       {@link #fenced} is set and every later operation throws it.</li>
 *   <li><b>Hung requests</b>: a timed-out request stays counted in {@link Member#inflight}; a
 *       rebuild does not reuse the member's old device until that count drains, so a late write
 *       can never land on a freshly copied region.</li>
 * </ul>
 */
final class Engine implements ReplicatedDevice {

    interface Action {
        void run(Device device) throws IOException;
    }

    record Failure(Member member, Throwable error) {}

    final Config config;
    final String name;
    final long dataSize;
    final List<Member> members;
    final int required;
    final RangeLocks ranges = new RangeLocks();
    final DirtyMap dirty;
    final StateStore store;
    final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    final ReentrantLock membership = new ReentrantLock();
    private final Object commitLock = new Object();
    /** Dirty-map version whose bits are on every in-sync replica's header; guarded by membership. */
    private long publishedDirtyVersion;
    private volatile long generation;
    private volatile long lastSyncMark = -1;
    private volatile FencedException fenced;
    private volatile IOException failStop;
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
        this.generation = generation;
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
            List<Failure> failed = fanOut(List.of(m), dev -> dev.read(view, offset));
            if (failed.isEmpty()) {
                dst.position(dst.limit());
                return;
            }
            Throwable e = failed.getFirst().error();
            checkFencedBy(failed, "read of " + dst.remaining() + " bytes at " + offset);
            if (e instanceof TimeoutException || e.getCause() instanceof TimeoutException) {
                dropOut(failed);
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
                try {
                    return d.extents(offset, length);
                } catch (IOException e) {
                    // try the next one
                }
            }
        }
        return length == 0 ? List.of() : List.of(new Extent(offset, length, Extent.Type.DATA));
    }

    @Override
    public void sync() throws IOException {
        checkOpen("sync");
        checkFenced("sync");
        long mark = dirty.mark();
        List<Member> targets = writeTargets();
        List<Failure> failed = fanOut(targets, Device::sync);
        settle("sync", targets, failed);
        if (failed.isEmpty() && allInSync()) {
            long previous = lastSyncMark;
            if (previous >= 0) {
                dirty.clearQuiescent(previous);
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
            if (failStop == null) {
                commitState();
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
        return generation;
    }

    @Override
    public List<ReplicaStatus> status() {
        return members.stream().map(Member::status).toList();
    }

    @Override
    public int dirtyRegions() {
        return dirty.dirtyCount();
    }

    @Override
    public RebuildReport rebuild(String replicaId) throws IOException {
        checkOpen("rebuild");
        checkFenced("rebuild");
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
        membership.lock();
        try {
            if (m.state != ReplicaState.OUT_OF_SYNC || m.rebuilding.get()) {
                throw new IllegalStateException(name + ": replace " + m.id + ": it is " + m.state
                        + "; only an out-of-sync replica can be replaced");
            }
            Device old = m.device;
            m.connector = connector;
            m.device = device;
            m.needsFull = true;
            m.headerGeneration = 0;
            m.reason = "replaced; needs a full rebuild";
            commitState();
            if (old != null && m.inflight.get() == 0) {
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

    private void mutate(String op, long offset, long length, Action action) throws IOException {
        checkOpen(op);
        checkFenced(op);
        if (failStop != null) {
            throw new IOException(name + ": " + op + " refused: the state file failed earlier (reopen)", failStop);
        }
        Bounds.checkRange(name, op, offset, length, dataSize);
        if (length == 0) {
            return;
        }
        try (RangeLocks.Lease lease = ranges.acquire(offset, length)) {
            long ticket = dirty.begin(offset, length);
            try {
                if (ticket != 0) {
                    persistDirty(ticket);
                }
                List<Member> targets = writeTargets();
                List<Failure> failed = fanOut(targets, action);
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
    private void settle(String what, List<Member> targets, List<Failure> failed) throws IOException {
        checkFencedBy(failed, what);
        if (!failed.isEmpty()) {
            dropOut(failed);
        }
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

    /** After a failed write, asks each failed connector replica whether it was fenced. */
    private void probeFencing(List<Failure> failed, String what) throws IOException {
        List<Failure> probes = new ArrayList<>();
        for (Failure f : failed) {
            ReplicaConnector c = f.member().connector;
            if (c == null) {
                continue;
            }
            Future<Device> probe = executor.submit(() -> c.connect(config.term(), config.writer()));
            try {
                Device d = probe.get(config.writeTimeout().toNanos(), TimeUnit.NANOSECONDS);
                executor.submit(() -> closeQuietly(d));
            } catch (ExecutionException e) {
                probes.add(new Failure(f.member(), e.getCause()));
            } catch (TimeoutException e) {
                probe.cancel(true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(name + ": interrupted while probing replicas");
            }
        }
        checkFencedBy(probes, what);
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

    /**
     * Runs {@code action} on each member's current device concurrently and waits for all, each
     * until the write timeout.
     *
     * @return the members that failed or timed out, with why
     */
    List<Failure> fanOut(List<Member> targets, Action action) throws IOException {
        List<Future<?>> futures = new ArrayList<>(targets.size());
        for (Member m : targets) {
            Device d = m.device;
            m.inflight.incrementAndGet();
            try {
                futures.add(executor.submit(() -> {
                    try {
                        if (d == null) {
                            throw new IOException("replica " + m.id + " has no device");
                        }
                        action.run(d);
                    } finally {
                        m.inflight.decrementAndGet();
                    }
                    return null;
                }));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                m.inflight.decrementAndGet();
                throw new DeviceClosedException(name, "fan-out", e);
            }
        }
        long deadline = System.nanoTime() + config.writeTimeout().toNanos();
        List<Failure> failed = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            Member m = targets.get(i);
            try {
                futures.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                failed.add(new Failure(m, e.getCause()));
            } catch (TimeoutException e) {
                failed.add(new Failure(m, new IOException("no answer within " + config.writeTimeout().toMillis()
                        + " ms", e)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(name + ": interrupted waiting for replicas");
            }
        }
        return failed;
    }

    /**
     * Marks failed members out of sync, durably, and moves the members still in sync to a new
     * generation (state file first, then their headers), before returning.
     */
    void dropOut(List<Failure> failures) throws IOException {
        List<Failure> pending = new ArrayList<>(failures);
        membership.lock();
        try {
            while (!pending.isEmpty()) {
                boolean changed = false;
                for (Failure f : pending) {
                    Member m = f.member();
                    if (m.state != ReplicaState.OUT_OF_SYNC) {
                        m.state = ReplicaState.OUT_OF_SYNC;
                        m.reason = "dropped at generation " + generation + ": " + describe(f.error());
                        changed = true;
                        ReplicaConnector c = m.connector;
                        Device d = m.device;
                        if (c != null && d != null) {
                            executor.submit(() -> closeQuietly(d));
                        }
                    }
                }
                if (!changed) {
                    return;
                }
                generation++;
                pending = publishState();
            }
        } finally {
            membership.unlock();
        }
    }

    /**
     * Commits the state file, then writes header and bitmap to every in-sync member. Caller
     * holds the membership lock.
     *
     * @return the members whose header write failed (to be dropped out)
     */
    private List<Failure> publishState() throws IOException {
        DirtyMap.Snapshot snap = commitState();
        List<Member> inSync = members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).toList();
        ReplicaHeader header = header(snap);
        List<Failure> failed = fanOut(inSync, header::write);
        checkFencedBy(failed, "header update");
        for (Member m : inSync) {
            if (failed.stream().noneMatch(f -> f.member() == m)) {
                m.headerGeneration = header.generation();
            }
        }
        publishedDirtyVersion = Math.max(publishedDirtyVersion, snap.version());
        return failed;
    }

    ReplicaHeader header(DirtyMap.Snapshot snap) {
        return new ReplicaHeader(config.term(), generation, dataSize, dirty.regionSize(), snap.bitmap());
    }

    static String describe(Throwable e) {
        String msg = e.getMessage();
        return e.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
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

    /** Commits the state file: term, generation, members, dirty bitmap; returns what it wrote. */
    DirtyMap.Snapshot commitState() throws IOException {
        synchronized (commitLock) {
            DirtyMap.Snapshot snap = dirty.snapshot();
            List<StateRecord.MemberRecord> recs = new ArrayList<>();
            for (Member m : members) {
                recs.add(new StateRecord.MemberRecord(m.id, m.state == ReplicaState.IN_SYNC, m.headerGeneration,
                        m.needsFull, m.reason));
            }
            try {
                store.commit(new StateRecord(0, config.term(), generation, dirty.regionSize(), dataSize, recs,
                        snap.bitmap()));
            } catch (IOException e) {
                failStop = e;
                throw new IOException(name + ": committing the replication state failed; writes are refused"
                        + " until reopened", e);
            }
            return snap;
        }
    }

    /**
     * Makes newly set dirty bits durable in the state file and on every in-sync replica before
     * the write that set them is sent (group commit: one publish covers every bit set so far).
     */
    private void persistDirty(long ticket) throws IOException {
        membership.lock();
        try {
            if (publishedDirtyVersion >= ticket) {
                return;
            }
            List<Failure> failed = publishState();
            if (!failed.isEmpty()) {
                dropOut(failed);
            }
        } finally {
            membership.unlock();
        }
    }

    void setGeneration(long g) {
        generation = g;
    }

    private void checkFencedBy(List<Failure> failures, String what) throws FencedException {
        for (Failure f : failures) {
            FencedException fe = NbdConnector.asFenced(f.error(), f.member().where());
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
        return "ReplicatedDevice[" + name + ", term " + config.term() + ", generation " + generation + ": "
                + describeStates() + "]";
    }
}

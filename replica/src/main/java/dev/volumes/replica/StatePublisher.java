package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The engine's durable-state path: the set's generation, commits of the state file, and
 * publication of header + dirty bitmap to the in-sync replicas.
 *
 * <h2>Locking</h2>
 * Every method that writes replica headers runs under the engine's membership lock, so header
 * writes never reorder (an older generation can never land after a newer one). State-file commits
 * are serialized by {@link #commitLock}; the lock order is membership, then commitLock. A dirty
 * bit persist that finds its version already published returns at once (group commit).
 * A failed state-file commit sets {@link #failStop}: the engine refuses writes until reopened.
 */
final class StatePublisher {

    private final Engine engine;
    private final Object commitLock = new Object();
    /** Dirty-map version whose bits are on every in-sync replica's header; written under membership. */
    private volatile long publishedDirtyVersion;
    private volatile long generation;
    /** The first failed state commit (its message says writes are refused until reopened), or null. */
    volatile IOException failStop;
    /**
     * True from the moment a replica is marked out of sync until the bumped generation is on
     * every replica still in sync (stays true if that publication failed). Written under
     * membership; read lock-free by {@link #awaitDropOuts}.
     */
    private volatile boolean dropOutPending;

    StatePublisher(Engine engine, long generation) {
        this.engine = engine;
        this.generation = generation;
    }

    long generation() {
        return generation;
    }

    /**
     * Marks failed members out of sync, durably, and moves the members still in sync to a new
     * generation (state file first, then their headers), before returning.
     *
     * <p>A generation is never published to fewer in-sync members than the mode requires: if
     * dropping the failed members out would leave fewer, nothing is marked or published; the
     * failed members are asked whether a newer term claimed them ({@link FencedException}),
     * otherwise the engine stops accepting writes until reopened (as if the writer had crashed
     * at this point, which start-up already handles) and an IOException says which members
     * failed and why.
     *
     * @param what the request that failed, for messages
     */
    void dropOut(List<FanOut.Failure> failures, String what) throws IOException {
        List<FanOut.Failure> pending = new ArrayList<>(failures);
        engine.membership.lock();
        try {
            while (!pending.isEmpty()) {
                List<FanOut.Failure> fresh = pending.stream()
                        .filter(f -> f.member().state != ReplicaState.OUT_OF_SYNC).toList();
                if (fresh.isEmpty()) {
                    break;
                }
                int remaining = 0;
                for (Member m : engine.members) {
                    if (m.state == ReplicaState.IN_SYNC && fresh.stream().noneMatch(f -> f.member() == m)) {
                        remaining++;
                    }
                }
                if (remaining < engine.required) {
                    engine.refuseMinority(fresh, what, remaining);
                }
                // They are dropped below (or a probe finds the engine fenced): stop their sessions
                // first. A probe's claim cuts a session's connection; a live session would then
                // reconnect on its own, re-claim and replay its client's journal onto the replica
                // (docs/replication.md §1 "Abandoned sessions"). Requests still in flight fail
                // locally and stay counted in inflight until they return.
                for (FanOut.Failure f : fresh) {
                    Member m = f.member();
                    Device d = m.device;
                    if (m.connector != null && d != null) {
                        Sessions.abandon(d, "dropped out at generation " + generation + " after " + what, engine.executor);
                    }
                }
                // a connection cut by a newer claim looks like a dropped connection: ask first
                engine.probeFencing(fresh.stream().filter(f -> !FanOut.isTimeout(f.error())).toList(), what);
                for (FanOut.Failure f : fresh) {
                    Member m = f.member();
                    if (m.state == ReplicaState.IN_SYNC) {
                        dropOutPending = true; // before the state: see awaitDropOuts
                    }
                    m.state = ReplicaState.OUT_OF_SYNC;
                    m.reason = "dropped at generation " + generation + ": " + FanOut.describe(f.error());
                }
                generation++;
                pending = publishState();
                what = "header update at generation " + generation;
            }
            if (pending.isEmpty()) {
                dropOutPending = false;
            }
        } finally {
            engine.membership.unlock();
        }
    }

    /**
     * Commits the state file, then writes header and bitmap to every in-sync member. Caller
     * holds the membership lock.
     *
     * @return the members whose header write failed (to be dropped out)
     */
    private List<FanOut.Failure> publishState() throws IOException {
        List<Member> inSync = engine.members.stream().filter(m -> m.state == ReplicaState.IN_SYNC).toList();
        if (inSync.size() < engine.required) {
            // never reached through dropOut (it refuses first); a guard for every other path
            throw new IOException(engine.name + ": refusing to publish generation " + generation + " to "
                    + inSync.size() + " in-sync replica(s); mode " + engine.config.mode() + " needs "
                    + engine.required + ": " + engine.describeStates());
        }
        DirtyMap.Snapshot snap = commitState();
        ReplicaHeader header = header(snap);
        List<FanOut.Failure> failed = engine.io.run(inSync, header::write);
        engine.checkFencedBy(failed, "header update");
        for (Member m : inSync) {
            if (failed.stream().noneMatch(f -> f.member() == m)) {
                m.headerGeneration = header.generation();
            }
        }
        publishedDirtyVersion = Math.max(publishedDirtyVersion, snap.version());
        return failed;
    }

    /**
     * Waits until no drop-out is between marking a replica out of sync and publishing the bumped
     * generation to the replicas still in sync. A write whose targets already excluded the dropped
     * replica must not be acknowledged before that: after a crash the dropped replica would still
     * carry the newest generation and be taken as in sync without the acknowledged write.
     *
     * @throws IOException if a drop-out could not be published (the write must not be acknowledged)
     */
    void awaitDropOuts() throws IOException {
        if (!dropOutPending) {
            return;
        }
        engine.membership.lock();
        try {
            if (dropOutPending && failStop == null) {
                // an earlier publication failed part-way: publish again (a fenced one throws)
                List<FanOut.Failure> failed = publishState();
                if (failed.isEmpty()) {
                    dropOutPending = false;
                } else {
                    dropOut(failed, "republication of a drop-out");
                }
            }
            if (dropOutPending) {
                throw new IOException(engine.name + ": a replica dropped out but the new generation could not be"
                        + " published to the replicas still in sync: " + engine.describeStates(), failStop);
            }
        } finally {
            engine.membership.unlock();
        }
    }

    ReplicaHeader header(DirtyMap.Snapshot snap) {
        return new ReplicaHeader(engine.config.term(), generation, engine.dataSize, engine.dirty.regionSize(),
                snap.bitmap());
    }

    /** Commits the state file: term, generation, members, dirty bitmap; returns what it wrote. */
    DirtyMap.Snapshot commitState() throws IOException {
        synchronized (commitLock) {
            DirtyMap.Snapshot snap = engine.dirty.snapshot();
            List<StateRecord.MemberRecord> recs = new ArrayList<>();
            for (Member m : engine.members) {
                recs.add(new StateRecord.MemberRecord(m.id, m.state == ReplicaState.IN_SYNC, m.headerGeneration,
                        m.needsFull, m.reason));
            }
            try {
                engine.store.commit(new StateRecord(0, engine.config.term(), generation, engine.dirty.regionSize(),
                        engine.dataSize, recs,
                        snap.bitmap()));
            } catch (IOException e) {
                IOException stop = new IOException(engine.name + ": committing the replication state failed; writes"
                        + " are refused until reopened", e);
                if (failStop == null) {
                    failStop = stop; // the first failure is the reason (ReplicatedDevice.writeFailure)
                }
                throw stop;
            }
            return snap;
        }
    }

    /**
     * Makes newly set dirty bits durable in the state file and on every in-sync replica before
     * the write that set them is sent (group commit: one publish covers every bit set so far).
     */
    void persistDirty(long ticket) throws IOException {
        if (publishedDirtyVersion >= ticket) {
            return; // already on every in-sync replica (the common case: no lock)
        }
        engine.membership.lock();
        try {
            if (publishedDirtyVersion >= ticket) {
                return;
            }
            List<FanOut.Failure> failed = publishState();
            if (!failed.isEmpty()) {
                dropOut(failed, "dirty-bit update");
            } else {
                dropOutPending = false; // the current generation is on every in-sync replica
            }
        } finally {
            engine.membership.unlock();
        }
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One replica of the set as the engine sees it. Fields are volatile: the I/O paths read them
 * without locks; every change of {@link #state}, {@link #device} and {@link #connector} is made
 * by the engine under its membership lock.
 */
final class Member {

    final String id;
    volatile ReplicaConnector connector;
    volatile Device device;
    volatile ReplicaState state = ReplicaState.OUT_OF_SYNC;
    volatile String reason = "not opened";
    volatile long headerGeneration;
    volatile boolean needsFull = true;
    /**
     * Regions its next delta rebuild copies besides the engine's dirty ones: its own header's
     * bitmap when that header is of an older term than the set's freshest (what a deposed writer
     * may have written on it alone); null if none. Cleared when it rejoins.
     */
    volatile java.util.BitSet ownRegions;
    volatile long rebuildDone;
    volatile long rebuildTotal;
    /** Requests issued to {@link #device} that have not returned (a hung one stays counted). */
    final AtomicInteger inflight = new AtomicInteger();
    final AtomicBoolean rebuilding = new AtomicBoolean();

    Member(String id, ReplicaConnector connector, Device device) {
        this.id = id;
        this.connector = connector;
        this.device = device;
    }

    ReplicaStatus status() {
        return new ReplicaStatus(id, state, state == ReplicaState.IN_SYNC ? "" : reason, headerGeneration,
                rebuildDone, rebuildTotal);
    }

    String where() {
        ReplicaConnector c = connector;
        return c == null ? id : id + " (" + c.describe() + ")";
    }

    @Override
    public String toString() {
        return id + "[" + state + "]";
    }
}

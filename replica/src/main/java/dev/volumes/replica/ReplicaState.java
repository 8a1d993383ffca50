package dev.volumes.replica;

/** Where a replica stands in its set. */
public enum ReplicaState {
    /** Holds every acknowledged write; receives writes, serves reads, counts toward the mode. */
    IN_SYNC,
    /** Being rebuilt: receives live writes and rebuild copies; never read, never counted. */
    REBUILDING,
    /** Missed writes (failed, timed out, unreachable or stale at start-up); never read or used as a source. */
    OUT_OF_SYNC
}

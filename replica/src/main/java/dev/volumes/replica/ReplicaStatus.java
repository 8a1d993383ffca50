package dev.volumes.replica;

/**
 * A snapshot of one replica's state.
 *
 * @param id the replica's id in the set
 * @param state where it stands
 * @param reason why it is not in sync (empty when in sync)
 * @param generation the generation recorded in its header (see docs/replication.md)
 * @param rebuildDoneBytes bytes copied so far by a running or the last rebuild
 * @param rebuildTotalBytes bytes the running or last rebuild has to copy
 */
public record ReplicaStatus(String id, ReplicaState state, String reason, long generation, long rebuildDoneBytes,
        long rebuildTotalBytes) {

    public ReplicaStatus {
        if (id == null || state == null || reason == null) {
            throw new IllegalArgumentException("ReplicaStatus: null field");
        }
    }
}

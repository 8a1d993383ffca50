package dev.volumes.ha;

/** Whether a {@link Controller#gate gated device} serves reads when this node is not leader. */
public enum ReadPolicy {
    /** Reads go to the device in every state (it may be stale on a follower). */
    ANY_STATE,
    /** Reads are refused with {@link NotLeaderException} unless this node leads. */
    LEADER_ONLY
}

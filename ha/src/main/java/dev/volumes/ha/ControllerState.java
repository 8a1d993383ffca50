package dev.volumes.ha;

/** The states of a {@link Controller}: follower → fence-pending → leader, and closed. */
public enum ControllerState {
    /** Not holding the lease (or campaigning for it). Writes are refused. */
    FOLLOWER,
    /** Holds the lease of a new term and is fencing older terms. Writes are still refused. */
    FENCE_PENDING,
    /** Holds the lease and fencing succeeded: the only state in which writes are let through. */
    LEADER,
    /** Closed; terminal. */
    CLOSED
}

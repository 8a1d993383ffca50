package dev.volumes.ha;

/**
 * A consistent snapshot of a {@link Controller}: its state and the term that state belongs to
 * (0 for a follower that never led).
 */
public record ControllerStatus(ControllerState state, long term) {
    public ControllerStatus {
        if (state == null) {
            throw new IllegalArgumentException("state is null");
        }
        if (term < 0) {
            throw new IllegalArgumentException("term is negative: " + term);
        }
    }

    /** Whether writes of {@code term()} may be let through. */
    public boolean leading() {
        return state == ControllerState.LEADER;
    }
}

package dev.volumes.ha;

import java.time.Instant;

/**
 * One transition of a {@link Controller}, as delivered to its observers and logged.
 *
 * @param at when the transition happened
 * @param nodeId the node
 * @param from the previous state
 * @param to the new state
 * @param term the term of the new state (for a demotion: the term that was lost)
 * @param reason why, for humans ("elected", "fenced", "lease lost: session expired" ...)
 */
public record ControllerEvent(Instant at, String nodeId, ControllerState from, ControllerState to, long term,
        String reason) {
    public ControllerEvent {
        if (at == null || nodeId == null || from == null || to == null || reason == null) {
            throw new IllegalArgumentException("controller event fields must not be null");
        }
    }
}

package dev.volumes.ha;

/**
 * What a {@link Coordinator} tells its observers. Events for one coordinator are delivered in the
 * order they happened, one at a time, never while the coordinator holds a lock a listener could
 * need.
 */
public sealed interface CoordinatorEvent {

    /** The term the event is about; terms are strictly increasing per leadership change. */
    long term();

    /**
     * This node won the election: it holds the lease for {@code term}, a term no earlier leader of
     * the group ever held.
     */
    record Elected(long term) implements CoordinatorEvent {
        public Elected {
            if (term <= 0) {
                throw new IllegalArgumentException("term must be positive: " + term);
            }
        }
    }

    /**
     * This node no longer holds (or can no longer be sure it holds) the lease of {@code term}:
     * suspended or lost connection, expired session, resignation, close. Delivered before the
     * coordination service can have elected anyone else whenever the failure is visible to this
     * node first (see the implementation's timing notes). The node is no longer a candidate; it
     * must call {@link Coordinator#campaign()} again to compete.
     */
    record LeaseLost(long term, String reason) implements CoordinatorEvent {
        public LeaseLost {
            if (reason == null || reason.isBlank()) {
                throw new IllegalArgumentException("a lease loss needs a reason");
            }
        }
    }
}

package dev.volumes.ha;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Makes sure no holder of an older term can change the volume any more: the step the {@link
 * Controller} must complete before it lets this node write as leader of a new term.
 *
 * <p>The primary fencer is the storage itself: opening the replication engine with the new term
 * makes every replica promise to refuse older terms (see {@link TermEngine}); in quorum mode that
 * alone is sufficient. {@link #command} adds an external action (power off the old leader, revoke
 * its network access) for modes where a minority of replicas may accept writes.
 */
@FunctionalInterface
public interface Fencer {

    /**
     * Fences every term older than {@code term}. Blocks until done. Must be idempotent: the
     * controller retries a failed fence with backoff, and may call it again for the same term.
     *
     * @throws IOException if fencing could not be confirmed; the node is then not promoted
     */
    void fence(long term) throws IOException;

    /**
     * Called when this node stops being leader (or gives up promoting) for {@code term}: release
     * whatever {@link #fence} opened for it. Must not throw; the default does nothing.
     */
    default void release(long term) {}

    /**
     * Told when the write path a fencer opened for a term can no longer write (for example a
     * replication engine that failed stop: it could not keep its mode's replicas in sync and
     * refuses writes until reopened). See {@link Fencer#watchTermFailures}.
     */
    @FunctionalInterface
    interface TermFailureListener {
        /**
         * @param term the term whose write path failed
         * @param reason why, for humans (the engine's error)
         */
        void termFailed(long term, String reason);
    }

    /**
     * Registers {@code listener} to be told when the write path this fencer opened for a term
     * fails for good while the term is still open (the {@link Controller} registers itself and
     * steps down: docs/ha.md "Write-failure health rule"). A fencer that opens nothing reports
     * nothing: the default registers nothing. Listeners are called on the thread that noticed the
     * failure (an I/O thread) and must be quick.
     *
     * @return a handle whose {@code close()} unregisters the listener
     */
    default Coordinator.Subscription watchTermFailures(TermFailureListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener is null");
        }
        return () -> {};
    }

    /**
     * Why the write path this fencer opened for {@code term} can no longer write, or empty if it
     * can or nothing is open here for that term. The {@link Controller} asks while it leads
     * {@code term}, every {@code healthCheckInterval}, and steps down on an answer (the periodic
     * half of the write-failure health rule; {@link #watchTermFailures} is the immediate half).
     * Must be quick, must not block, must change nothing. The default: empty.
     */
    default Optional<String> writeFailure(long term) {
        return Optional.empty();
    }

    /**
     * A fencer that runs {@code this}, then {@code next}; succeeds only if both do. Released in
     * reverse order. Term failures of either are reported (and answered by {@link
     * #writeFailure(long)}).
     */
    default Fencer andThen(Fencer next) {
        if (next == null) {
            throw new IllegalArgumentException("next fencer is null");
        }
        Fencer first = this;
        return new Fencer() {
            @Override
            public void fence(long term) throws IOException {
                first.fence(term);
                next.fence(term);
            }

            @Override
            public void release(long term) {
                next.release(term);
                first.release(term);
            }

            @Override
            public Optional<String> writeFailure(long term) {
                Optional<String> why = first.writeFailure(term);
                return why.isPresent() ? why : next.writeFailure(term);
            }

            @Override
            public Coordinator.Subscription watchTermFailures(TermFailureListener listener) {
                Coordinator.Subscription a = first.watchTermFailures(listener);
                Coordinator.Subscription b = next.watchTermFailures(listener);
                return () -> {
                    b.close();
                    a.close();
                };
            }
        };
    }

    /**
     * The external fencer hook: runs {@code command} (no shell; every argument may contain
     * {@code {term}} and {@code {node}}, replaced by the new term and this node's id) and succeeds
     * if it exits with status 0 within {@code timeout}. Its output is kept for the error message.
     * A command still running at the timeout is killed and the fence fails.
     *
     * @throws IllegalArgumentException if the command is empty or the timeout not positive
     */
    static Fencer command(List<String> command, String nodeId, Duration timeout) {
        return new CommandFencer(command, nodeId, timeout);
    }
}

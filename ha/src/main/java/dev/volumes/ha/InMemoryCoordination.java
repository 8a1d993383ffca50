package dev.volumes.ha;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * An in-process coordination service for tests: a group of {@link Coordinator}s sharing one
 * election. The first candidate to campaign leads; when the leader leaves (resigns, closes, or a
 * test {@linkplain #expire expires} it) the next candidate in campaign order is elected with the
 * next term.
 *
 * <p>Design: one monitor guards the candidate list, the leader and the term counter; events are
 * delivered by one cluster-wide thread in the order they were decided, so a deposed leader's
 * {@link CoordinatorEvent.LeaseLost} is always delivered before its successor's {@link
 * CoordinatorEvent.Elected} — the "prompt lease loss" obligation in its strongest form. {@link
 * #expire} returns only after the lease loss was delivered. Thread-safe.
 */
public final class InMemoryCoordination implements AutoCloseable {

    private final Object lock = new Object();
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final List<Node> candidates = new ArrayList<>();
    private final ExecutorService events = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "in-memory-coordination-events");
        t.setDaemon(true);
        return t;
    });
    private Node leader;
    private long term;

    /** A new, empty group whose first term will be 1. */
    public InMemoryCoordination() {}

    /**
     * The coordinator of node {@code nodeId}, created on first use.
     *
     * @throws IllegalArgumentException if {@code nodeId} is blank
     */
    public Coordinator coordinator(String nodeId) {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("node id is blank");
        }
        synchronized (lock) {
            return nodes.computeIfAbsent(nodeId, Node::new);
        }
    }

    /** The last term handed out (0 before the first election). */
    public long currentTerm() {
        synchronized (lock) {
            return term;
        }
    }

    /** The node holding the lease, or null. */
    public String leader() {
        synchronized (lock) {
            return leader == null ? null : leader.id;
        }
    }

    /**
     * Simulates the loss of {@code nodeId}'s session: it leaves the election, its lease (if any) is
     * reported lost, then the next candidate is elected. Returns after the loss was delivered.
     */
    public void expire(String nodeId) {
        Node node;
        synchronized (lock) {
            node = nodes.get(nodeId);
        }
        if (node != null) {
            await(node.leave("session expired"));
        }
    }

    /** Stops event delivery. Coordinators stop working. */
    @Override
    public void close() {
        events.shutdownNow();
    }

    /** Queues a delivery; after {@link #close()} events are dropped. */
    private Future<?> submit(Runnable delivery) {
        try {
            return events.submit(delivery);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            return java.util.concurrent.CompletableFuture.completedFuture(null);
        }
    }

    private static void await(Future<?> delivered) {
        try {
            delivered.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            throw new IllegalStateException("event delivery failed", e.getCause());
        }
    }

    /** Called with the lock held: elects the first candidate if nobody leads. */
    private void electLocked() {
        if (leader == null && !candidates.isEmpty()) {
            leader = candidates.getFirst();
            long t = ++term;
            leader.leaseTerm = t;
            Node elected = leader;
            submit(() -> elected.deliver(new CoordinatorEvent.Elected(t)));
        }
    }

    private final class Node implements Coordinator {
        private final String id;
        private final List<Consumer<CoordinatorEvent>> listeners = new CopyOnWriteArrayList<>();
        private long leaseTerm; // guarded by lock; 0 = none
        private boolean closed; // guarded by lock

        Node(String id) {
            this.id = id;
        }

        @Override
        public String nodeId() {
            return id;
        }

        @Override
        public void campaign() {
            synchronized (lock) {
                if (closed) {
                    throw new IllegalStateException("coordinator of " + id + " is closed");
                }
                if (!candidates.contains(this)) {
                    candidates.add(this);
                }
                electLocked();
            }
        }

        @Override
        public void resign() {
            await(leave("resigned"));
        }

        Future<?> leave(String reason) {
            synchronized (lock) {
                candidates.remove(this);
                Future<?> done;
                if (leader == this) {
                    long lost = leaseTerm;
                    leaseTerm = 0;
                    leader = null;
                    done = submit(() -> deliver(new CoordinatorEvent.LeaseLost(lost, reason)));
                } else {
                    done = submit(() -> {});
                }
                electLocked();
                return done;
            }
        }

        @Override
        public Subscription observe(Consumer<CoordinatorEvent> listener) {
            listeners.add(listener);
            return () -> listeners.remove(listener);
        }

        @Override
        public OptionalLong leaseTerm() {
            synchronized (lock) {
                return leaseTerm == 0 ? OptionalLong.empty() : OptionalLong.of(leaseTerm);
            }
        }

        @Override
        public List<String> members() {
            synchronized (lock) {
                return candidates.stream().map(n -> n.id).toList();
            }
        }

        @Override
        public void close() {
            Future<?> done = leave("coordinator closed");
            synchronized (lock) {
                closed = true;
            }
            await(done);
        }

        void deliver(CoordinatorEvent event) {
            for (Consumer<CoordinatorEvent> listener : listeners) {
                listener.accept(event);
            }
        }
    }
}

package dev.volumes.ha;

import java.io.IOException;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * Leader election for one group of nodes (one replicated volume): the SPI the {@link Controller}
 * runs on. Implementations: {@link InMemoryCoordination} for tests, the ZooKeeper coordinator in
 * module {@code ha-zookeeper}.
 *
 * <h2>Obligations of an implementation</h2>
 * <ul>
 *   <li><b>Terms.</b> Every leadership change gets a term strictly greater than every term
 *       handed out before in this group, including terms of leaders that crashed. Terms are
 *       positive. The term is what storage fences with, so a term must never be reused.</li>
 *   <li><b>Prompt lease loss.</b> When this node stops being sure it holds the lease (connection
 *       suspended, session expired, resigned, closed) it reports {@link CoordinatorEvent.LeaseLost}
 *       without waiting to learn more, and as early as it can: for a failure this node can see
 *       (a silent coordination service), before the service's grace period for this node ends,
 *       i.e. before another node can be elected.</li>
 *   <li><b>One campaign at a time.</b> {@link #campaign()} enters the election once; after a
 *       lease loss the node is out until {@link #campaign()} is called again.</li>
 *   <li><b>Threading.</b> All methods are thread-safe. Events are delivered on the
 *       implementation's own thread, in order; a listener must not block for long.</li>
 * </ul>
 */
public interface Coordinator extends AutoCloseable {

    /** This node's identity in the group; never null, stable for the coordinator's life. */
    String nodeId();

    /**
     * Enters the election (returns without waiting for the outcome, which arrives as an
     * {@link CoordinatorEvent.Elected} event). Calling it while already a candidate does nothing.
     *
     * @throws IOException if the coordination service cannot be reached to register the candidacy
     * @throws IllegalStateException if the coordinator is closed
     */
    void campaign() throws IOException;

    /**
     * Leaves the election. If this node held the lease it reports {@link
     * CoordinatorEvent.LeaseLost} ("resigned") and the group elects someone else. Idempotent.
     *
     * @throws IOException if the candidacy could not be removed; the lease is still reported lost
     */
    void resign() throws IOException;

    /**
     * Registers {@code listener} for every later event of this coordinator. Returns a handle
     * whose {@link AutoCloseable#close()} unregisters it.
     */
    Subscription observe(Consumer<CoordinatorEvent> listener);

    /**
     * The term of the lease this node holds right now, as far as it knows, or empty. Becomes
     * empty at the instant a lease loss is decided, before the event is delivered.
     */
    OptionalLong leaseTerm();

    /**
     * The node ids currently registered as candidates, the leader first if known.
     *
     * @throws IOException if the coordination service cannot be asked
     */
    List<String> members() throws IOException;

    /** Resigns (reporting a lease loss if held), stops delivering events and releases resources. */
    @Override
    void close();

    /** A registration made by {@link #observe}; closing it stops delivery to that listener. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.IOException;
import java.time.Duration;

/**
 * Opens a session to a replica that lives behind a term-fenced endpoint (a {@link ReplicaServer}
 * export reached over NBD, or in-process through {@link ReplicaServer#localConnector(String)}).
 * The engine calls it at open, when a rebuild reattaches a replica, and to find out whether a
 * failed replica fenced it.
 *
 * <p>Implementations must be thread-safe. Each call opens a new session; a successful return
 * means the replica has durably promised {@code term} (or an equal one) and that every request of
 * an older session of the same export will fail from now on.
 */
public interface ReplicaConnector {

    /**
     * Claims the replica for {@code term} and returns a device for the session.
     *
     * @param term the writer's term
     * @param writer the writer's id, recorded by the replica for error messages
     * @throws FencedException if the replica has promised a newer term
     * @throws IOException if the replica cannot be reached or refused for another reason
     */
    Device connect(long term, String writer) throws IOException;

    /** Where the replica is, for messages ({@code nbd://host:port/export}, {@code local:export}). */
    String describe();

    /**
     * A replica export of a {@link ReplicaServer} reached over NBD (plain TCP), with a 10 s
     * request timeout and a 10 s reconnect deadline.
     */
    static ReplicaConnector nbd(String host, int port, String export) {
        return nbd(host, port, export, Duration.ofSeconds(10), Duration.ofSeconds(10));
    }

    /**
     * A replica export of a {@link ReplicaServer} reached over NBD. The writer's term and id
     * travel in the export name ({@code export;term=T;writer=W}, docs/replication.md "Wire"); a
     * fencing refusal surfaces as {@link FencedException}.
     *
     * @param requestTimeout how long one request may wait for its reply before its connection is
     *     cut (keep it at or above the engine's write timeout)
     * @param reconnectDeadline how long the client keeps reconnecting after a dropped
     *     connection (zero: never)
     */
    static ReplicaConnector nbd(String host, int port, String export, Duration requestTimeout,
            Duration reconnectDeadline) {
        return new NbdConnector(host, port, export, requestTimeout, reconnectDeadline);
    }
}

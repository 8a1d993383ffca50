package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.IOException;

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
}

package dev.volumes.ha.zookeeper;

import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaServer;
import java.time.Duration;

/** How the end-to-end nodes reach the replica servers: NBD over loopback, with the term in the export name. */
final class Connectors {

    private Connectors() {}

    /**
     * An NBD connector to export {@code name} of {@code server}: a request may take 2 s (the
     * engine's write timeout) and a dropped connection is retried for 1 s.
     */
    static ReplicaConnector to(ReplicaServer server, String name) {
        return to(server.address().getPort(), name);
    }

    /** The same to whatever listens on 127.0.0.1:{@code port} (a proxy in front of a replica server). */
    static ReplicaConnector to(int port, String name) {
        return ReplicaConnector.nbd("127.0.0.1", port, name, Duration.ofSeconds(2), Duration.ofSeconds(1));
    }
}

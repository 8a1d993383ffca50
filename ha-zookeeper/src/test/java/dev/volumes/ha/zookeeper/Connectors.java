package dev.volumes.ha.zookeeper;

import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaServer;

/** How the end-to-end nodes reach the replica servers. */
final class Connectors {

    private Connectors() {}

    /**
     * A term-fenced connector to export {@code name} of {@code server}. For now the in-process
     * connector, which claims through the same fence as NBD clients (the replication branch has no
     * NBD connector yet).
     */
    static ReplicaConnector to(ReplicaServer server, String name) {
        return server.localConnector(name);
    }
}

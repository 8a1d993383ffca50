package dev.volumes.ha.zookeeper;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;

/**
 * A real ZooKeeper server (Curator's TestingServer, in this JVM) on 127.0.0.1 with a short tick
 * (100 ms: session timeouts between 200 ms and 2 s are accepted) so that failover tests are quick.
 */
final class ZooKeeperTestServer implements AutoCloseable {

    static final int TICK_MS = 100;

    private final InstanceSpec spec;
    private final Path dir;
    private TestingServer server;
    private final int port;

    ZooKeeperTestServer() throws Exception {
        this.dir = Files.createTempDirectory("zk-test");
        this.port = InstanceSpec.getRandomPort();
        // the data survives stop()/start() (sessions included); close() deletes it
        this.spec = new InstanceSpec(dir.toFile(), port, -1, -1, false, -1, TICK_MS, -1,
                Map.of("clientPortAddress", "127.0.0.1", "admin.enableServer", "false"), "127.0.0.1");
        this.server = new TestingServer(spec, true);
    }

    String connectString() {
        return "127.0.0.1:" + port;
    }

    InetSocketAddress address() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    void restart() throws Exception {
        server.restart();
    }

    /** Stops the server, keeping its data: {@link #start()} brings it back on the same port. */
    void stop() throws IOException {
        server.close();
    }

    /** Starts it again after {@link #stop()}: it reloads its data, and sessions resume their timeouts. */
    void start() throws Exception {
        server = new TestingServer(spec, true);
    }

    @Override
    public void close() throws IOException {
        server.close();
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}

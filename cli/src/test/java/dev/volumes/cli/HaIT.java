package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import dev.volumes.nbd.NbdClient;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built command as an operator runs it: a real ZooKeeper on 127.0.0.1 (Curator's
 * TestingServer in this JVM, tick 250 ms), three {@code volumes replica serve} processes and two
 * {@code volumes ha run} nodes over them. One node leads and takes writes over NBD; the follower
 * refuses writes (EPERM). The leader is killed with SIGKILL (no resignation, nothing committed):
 * the other node is elected, fences the replicas with a newer term and serves every acknowledged
 * byte; the old node restarts as a follower. After a clean stop, all three replica volumes hold
 * the same bytes, read back through {@code volumes export} of each replica pool.
 */
class HaIT {

    private static final long SIZE = 8L << 20;

    @TempDir
    Path dir;

    @Test
    void killedLeaderIsReplacedAndNoAcknowledgedWriteIsLost() throws Exception {
        try (Zk zk = new Zk(); Cluster c = new Cluster()) {
            List<String> replicaArgs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Launcher.Daemon r = c.add(Launcher.Daemon.launch(Map.of(), dir.resolve("replica" + i),
                        List.of("replica", "serve", "--listen", "127.0.0.1:0", "--create", "8M", "vol0")));
                replicaArgs.add("--replica");
                replicaArgs.add("r" + i + "=nbd://127.0.0.1:" + r.nbdPort + "/vol0");
            }
            Launcher.Daemon a = c.add(node("a", zk, replicaArgs));
            Launcher.Daemon b = c.add(node("b", zk, replicaArgs));
            Launcher.Daemon leader = awaitLeader(List.of(a, b));
            Launcher.Daemon follower = leader == a ? b : a;
            // the brand-new set's first leader copied r0 onto the others, and said so
            assertThat(leader.output()).contains("rebuild r1 (full): started, 8 MiB to copy")
                    .contains("rebuild r1 (full): copied (8 MiB in ");

            byte[] expected = new byte[(int) SIZE];
            Random random = new Random(11);
            try (Device d = open(leader)) {
                assertThat(d.size()).isEqualTo(SIZE);
                writeRandom(d, expected, random, 0, 4 << 20);
            }
            try (Device d = open(follower)) {
                assertThatThrownBy(() -> d.write(ByteBuffer.allocate(4096), 0, WriteFlag.FUA))
                        .isInstanceOf(ReadOnlyDeviceException.class);
            }

            leader.kill();
            long killed = System.nanoTime();
            awaitLeader(List.of(follower));
            long failoverMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
            System.out.println("HaIT: failover after SIGKILL of the leader took " + failoverMs + " ms (session timeout 4 s)");
            try (Device d = open(follower)) {
                ByteBuffer back = ByteBuffer.allocate((int) SIZE);
                d.read(back, 0);
                assertThat(back.array()).as("every acknowledged byte, read through the new leader").isEqualTo(expected);
                writeRandom(d, expected, random, 4 << 20, 4 << 20);
            }
            String oldName = leader == a ? "a" : "b";
            Launcher.Daemon restarted = c.add(node(oldName, zk, replicaArgs));
            zk.awaitCandidate(oldName); // it has joined the election, behind the leader
            assertThat(restarted.output()).doesNotContain("is the leader");
            assertThat(follower.output()).doesNotContain("is no longer the leader");
            try (Device d = open(restarted)) {
                assertThatThrownBy(() -> d.write(ByteBuffer.allocate(4096), 0, WriteFlag.FUA))
                        .isInstanceOf(ReadOnlyDeviceException.class);
            }
            awaitAllReplicasInSync(follower); // the replica the old leader's term may have dropped is rebuilt
            c.stopAll();

            for (int i = 0; i < 3; i++) {
                Path raw = dir.resolve("replica" + i + ".raw");
                Launcher.run(dir.resolve("replica" + i), "export", "vol0", raw.toString()).ok();
                byte[] replica = Files.readAllBytes(raw);
                assertThat(Arrays.copyOf(replica, (int) SIZE)).as("replica r%d's data", i).isEqualTo(expected);
            }
        }
    }

    private Launcher.Daemon node(String id, Zk zk, List<String> replicaArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of("ha", "run", "--volume", "vol0", "--size", "8M", "--node-id", id,
                "--zookeeper", zk.connectString(), "--session-timeout", "4s", "--connection-timeout", "2s",
                "--write-timeout", "3s", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"));
        args.addAll(replicaArgs);
        return Launcher.Daemon.launch(Map.of(), dir.resolve("node-" + id), args);
    }

    /** Waits (at most 60 s) until one of {@code nodes} prints that it leads; returns it. */
    private static Launcher.Daemon awaitLeader(List<Launcher.Daemon> nodes) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (Launcher.Daemon n : nodes) {
                if (n.output().contains("is the leader")) {
                    return n;
                }
            }
            Thread.sleep(20);
        }
        StringBuilder out = new StringBuilder();
        nodes.forEach(n -> out.append(n.output()).append("\n---\n"));
        throw new AssertionError("no node became leader within 60 s:\n" + out);
    }

    /** Waits (at most 60 s) until the leader's /metrics say every replica is in sync in its term. */
    private static void awaitAllReplicasInSync(Launcher.Daemon leader) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Map<String, Double> m = Map.of();
        while (System.nanoTime() < deadline) {
            m = ServeIT.scrape(leader.metricsPort);
            boolean all = true;
            for (int i = 0; i < 3; i++) {
                all &= Double.valueOf(1.0).equals(m.get("volumes_ha_replica_in_sync{replica=\"r" + i + "\"}"));
            }
            if (all) {
                assertThat(m.get("volumes_ha_leader")).isEqualTo(1.0);
                for (int i = 0; i < 3; i++) { // a finished (or never needed) rebuild copied all it had to
                    assertThat(m.get("volumes_ha_rebuild_done_bytes{replica=\"r" + i + "\"}"))
                            .isEqualTo(m.get("volumes_ha_rebuild_total_bytes{replica=\"r" + i + "\"}")).isNotNull();
                }
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("replicas not all in sync within 60 s: " + m);
    }

    private static Device open(Launcher.Daemon node) throws Exception {
        return NbdClient.builder().host("127.0.0.1").port(node.nbdPort).exportName("vol0").open();
    }

    private static void writeRandom(Device d, byte[] expected, Random random, int from, int length) throws Exception {
        for (int off = from; off < from + length; off += 64 << 10) {
            byte[] chunk = new byte[64 << 10];
            random.nextBytes(chunk);
            d.write(ByteBuffer.wrap(chunk), off);
            System.arraycopy(chunk, 0, expected, off, chunk.length);
        }
        d.sync();
    }

    /** The processes of one test; {@link #close()} kills what is still running. */
    private static final class Cluster implements AutoCloseable {
        private final List<Launcher.Daemon> all = new ArrayList<>();

        Launcher.Daemon add(Launcher.Daemon d) {
            all.add(d);
            return d;
        }

        /** SIGTERM to the HA nodes first (they resign and commit), then to the replicas. */
        void stopAll() throws InterruptedException {
            for (Launcher.Daemon d : all.reversed()) {
                if (d.process.isAlive()) {
                    d.stop();
                    assertThat(d.output()).contains("stopped cleanly");
                }
            }
        }

        @Override
        public void close() throws InterruptedException {
            for (Launcher.Daemon d : all.reversed()) {
                if (d.process.isAlive()) {
                    d.kill();
                }
            }
        }
    }

    /** ZooKeeper on 127.0.0.1 with a 250 ms tick: session timeouts from 0.5 s to 5 s are honoured. */
    private static final class Zk implements AutoCloseable {
        private final TestingServer server;
        private final int port;

        Zk() throws Exception {
            port = InstanceSpec.getRandomPort();
            InstanceSpec spec = new InstanceSpec(Files.createTempDirectory("zk").toFile(), port, -1, -1, true, -1, 250,
                    -1, Map.of("clientPortAddress", "127.0.0.1", "admin.enableServer", "false"), "127.0.0.1");
            server = new TestingServer(spec, true);
        }

        String connectString() {
            return "127.0.0.1:" + port;
        }

        /** Waits (at most 60 s) until node {@code id} has a candidate node in the volume's election. */
        void awaitCandidate(String id) throws Exception {
            try (org.apache.zookeeper.ZooKeeper client = new org.apache.zookeeper.ZooKeeper(connectString(), 10_000,
                    event -> { })) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (System.nanoTime() < deadline) {
                    try {
                        for (String child : client.getChildren("/volumes/vol0/candidates", false)) {
                            byte[] data = client.getData("/volumes/vol0/candidates/" + child, false, null);
                            if (id.equals(new String(data, java.nio.charset.StandardCharsets.UTF_8))) {
                                return;
                            }
                        }
                    } catch (org.apache.zookeeper.KeeperException e) {
                        // not connected yet, or a candidate vanished between list and read: look again
                    }
                    Thread.sleep(20);
                }
                throw new AssertionError("node " + id + " never became a candidate");
            }
        }

        @Override
        public void close() throws Exception {
            server.close();
        }
    }
}

package dev.volumes.ha.zookeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.ha.ControllerState;
import dev.volumes.ha.WriteHistory;
import dev.volumes.replica.ReplicaServer;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The "Must show": three nodes, each with the replication engine over three term-fenced
 * replica servers, electing on a real ZooKeeper; failovers by killing the leader (gracefully: its
 * engine still commits its state; and hard: every socket cut mid-request, the engine abandoned
 * with its writer state uncommitted), expiring its session, partitioning it from ZooKeeper while
 * it stays connected to the replicas (and keeps writing flat out behind the gate's back, before,
 * during and after its successor's claims), and restarting ZooKeeper. A history checker runs over
 * the whole run, and the failover time (fault → new leader's first acknowledged write) is
 * measured.
 */
class FailoverIT {

    /** ZooKeeper session timeout of every node: the setting that governs failover time. */
    static final Duration SESSION = Duration.ofMillis(1500);
    /** Every replica keeps its header in its last 64 KiB (docs/replication.md, "Replica header area"). */
    private static final long HEADER_AREA = 64 << 10;
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    enum Scenario { KILL, HARD_KILL, EXPIRE, PARTITION, ZK_RESTART }

    /** Zombie writer threads of a partitioned leader. */
    private static final int ZOMBIES = 2;

    record Failover(Scenario scenario, String from, long oldTerm, String to, long newTerm, long millis,
            long detectMillis) {}

    @TempDir
    Path dir;

    private ZooKeeperTestServer zk;
    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<MemoryDevice> disks = new ArrayList<>();
    private final List<InetSocketAddress> replicaAddresses = new ArrayList<>();
    private final HaNode[] nodes = new HaNode[3];
    /** Each node's writer state directory (one per node and volume, every term). */
    private final Path[] stateDirs = new Path[3];
    private final List<HaNode> dead = new ArrayList<>();
    private final WriteHistory history = new WriteHistory();
    private Random random;

    @BeforeEach
    void start() throws Exception {
        random = Seeds.random("FailoverIT");
        zk = new ZooKeeperTestServer();
        for (int i = 0; i < 3; i++) {
            MemoryDevice disk = MemoryDevice.create("r" + i, HaNode.VOLUME + HEADER_AREA);
            disks.add(disk);
            ReplicaServer server = ReplicaServer.builder().export("vol0", disk)
                    .stateDir(Files.createDirectories(dir.resolve("replica-" + i))).start();
            servers.add(server);
            replicaAddresses.add(server.address());
        }
        for (int i = 0; i < 3; i++) {
            stateDirs[i] = Files.createDirectories(dir.resolve("node-" + i));
            nodes[i] = newNode(i);
        }
    }

    private HaNode newNode(int i) throws Exception {
        return new HaNode("n" + i, zk.address(), SESSION, replicaAddresses, stateDirs[i], history, random.nextLong());
    }

    /**
     * What a dead process leaves on its disk: a copy of its state directory as it is now. (The
     * hard-killed node's abandoned engine stays in this JVM holding the exclusive lock of its
     * state file, which the OS would have released at the process's death; the copy is the same
     * bytes under a new inode.)
     */
    private Path diskOfDeadProcess(int i, long term) throws IOException {
        Path copy = Files.createDirectories(dir.resolve("node-" + i + "-after-term-" + term));
        try (var files = Files.list(stateDirs[i])) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (Files.isRegularFile(f)) {
                    Files.copy(f, copy.resolve(f.getFileName()));
                }
            }
        }
        return copy;
    }

    @AfterEach
    void stop() throws Exception {
        for (HaNode n : nodes) {
            if (n != null) {
                n.close();
            }
        }
        for (HaNode n : dead) {
            n.close();
        }
        for (ReplicaServer s : servers) {
            s.close();
        }
        zk.close();
    }

    @Test
    void failoversKeepTheHistoryCleanAndAreTimed() throws Exception {
        int count = Math.max(20, Scenario.values().length * Seeds.scaled(5));
        List<Failover> failovers = new ArrayList<>();
        Scenario[] order = Scenario.values();
        for (int i = 0; i < count; i++) {
            failovers.add(failover(order[i % order.length]));
        }
        // quiesce and check
        HaNode leader = awaitLeaderWriting();
        for (HaNode n : nodes) {
            n.stopWriting();
        }
        ByteBuffer content = ByteBuffer.allocate((int) HaNode.VOLUME);
        leader.gated.read(content, 0);
        content.flip();
        List<String> violations = history.check(content, HaNode.BLOCKS);
        report(failovers);
        assertThat(violations).as("history of %s; %s", history,
                Seeds.reproduceWith("FailoverIT#failoversKeepTheHistoryCleanAndAreTimed")).isEmpty();
        // every in-sync replica holds exactly what the leader reads
        for (ReplicaStatus s : leader.current.device().status()) {
            if (s.state() == ReplicaState.IN_SYNC) {
                int i = Integer.parseInt(s.id().substring(1));
                ByteBuffer raw = ByteBuffer.allocate((int) HaNode.VOLUME);
                disks.get(i).read(raw, 0);
                assertThat(raw.flip()).as("replica %s", s.id()).isEqualTo(content.rewind());
            }
        }
        assertThat(history.ackedCount()).isGreaterThan(count);
    }

    private Failover failover(Scenario scenario) throws Exception {
        HaNode leader;
        long oldTerm;
        long[] probe = new long[1];
        while (true) {
            // a stable leader: writing, every node a candidate again, no newer term anywhere
            leader = awaitLeaderWriting();
            awaitAllCandidates(leader);
            Thread.sleep(100);
            var s = leader.controller.status();
            if (s.leading() && history.firstAckNewerThan(s.term(), probe) < 0) {
                oldTerm = s.term();
                break;
            }
        }
        leader.demotedNanos = 0;
        HaNode.Opened zombie = null;
        long t0 = System.nanoTime();
        switch (scenario) {
            case KILL -> leader.kill();
            case HARD_KILL -> leader.hardKill();
            case EXPIRE -> ZooKeeperCoordinatorIT.expireSession(((ZooKeeperCoordinator) leader.coordinator).client());
            case PARTITION -> {
                zombie = leader.current;
                assertThat(zombie.term()).isEqualTo(oldTerm);
                leader.keepReleasedOpen = true; // it keeps its replica sessions: a zombie
                leader.proxy.cut();
                // From now on it writes flat out behind the gate's back through the old term's
                // engine: while its lease runs out, during the successor's claims, and after.
                leader.startZombies(zombie, ZOMBIES);
            }
            case ZK_RESTART -> zk.restart();
        }
        long[] newTerm = new long[1];
        final long fromTerm = oldTerm;
        long acked = waitFor(() -> history.firstAckNewerThan(fromTerm, newTerm), "a write of a term newer than "
                + oldTerm + " after " + scenario + " of " + leader.id);
        long detect = leader.demotedNanos == 0 ? -1 : (leader.demotedNanos - t0) / 1_000_000;
        HaNode successor = leaderOf(newTerm[0]);
        final HaNode old = leader;
        Failover f = new Failover(scenario, leader.id, oldTerm, successor == null ? "?" : successor.id, newTerm[0],
                (acked - t0) / 1_000_000, detect);
        System.out.println("failover: " + f);
        switch (scenario) {
            case KILL, HARD_KILL -> {
                int i = Arrays.asList(nodes).indexOf(old);
                dead.add(old);
                if (scenario == Scenario.HARD_KILL) {
                    stateDirs[i] = diskOfDeadProcess(i, oldTerm);
                }
                nodes[i] = newNode(i); // the node comes back as a fresh process on the same state directory
            }
            case PARTITION -> {
                // The zombie kept writing through the old term's sessions while the successor
                // claimed the replicas and wrote; now that the successor has written, every
                // write the zombie sends must be refused by the storage.
                Thread.sleep(20);
                leader.stopZombies();
                assertThat(leader.controller.status().state()).isNotEqualTo(ControllerState.LEADER);
                for (int k = 0; k < 5; k++) {
                    assertThat(leader.zombieWrite(zombie, random.nextInt(HaNode.BLOCKS)))
                            .as("stale write of term %d after term %d was claimed", zombie.term(), newTerm[0]).isFalse();
                }
                zombie.device().close();
                for (HaNode.Opened z : leader.retained) {
                    z.device().close();
                }
                leader.retained.clear();
                leader.keepReleasedOpen = false;
                leader.proxy.heal();
            }
            default -> {}
        }
        return f;
    }

    private HaNode leaderOf(long term) {
        for (HaNode n : nodes) {
            if (n.controller.status().term() == term && n.controller.status().leading()) {
                return n;
            }
        }
        return null;
    }

    /** A node that leads and has had a write of its term acknowledged. */
    private HaNode awaitLeaderWriting() throws Exception {
        long deadline = System.nanoTime() + WAIT_NANOS;
        long[] t = new long[1];
        while (System.nanoTime() < deadline) {
            for (HaNode n : nodes) {
                var s = n.controller.status();
                if (s.leading() && history.firstAckNewerThan(s.term() - 1, t) > 0 && t[0] == s.term()) {
                    return n;
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no leader wrote within 30 s: " + Arrays.toString(nodes));
    }

    private void awaitAllCandidates(HaNode leader) throws Exception {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (leader.coordinator.members().size() < nodes.length) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not every node is a candidate again: " + leader.coordinator.members());
            }
            Thread.sleep(10);
        }
    }

    private static long waitFor(LongSupplier probe, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            long v = probe.getAsLong();
            if (v > 0) {
                return v;
            }
            Thread.sleep(2);
        }
        throw new AssertionError("timed out waiting for " + what);
    }

    private void report(List<Failover> failovers) {
        long[] all = failovers.stream().mapToLong(Failover::millis).sorted().toArray();
        StringBuilder sb = new StringBuilder("failover time (fault -> new leader's first acknowledged write), "
                + all.length + " failovers, session timeout " + SESSION.toMillis() + " ms, tick "
                + ZooKeeperTestServer.TICK_MS + " ms:\n");
        sb.append(line("all", all));
        for (Scenario s : Scenario.values()) {
            sb.append(line(s.name(), failovers.stream().filter(f -> f.scenario() == s).mapToLong(Failover::millis)
                    .sorted().toArray()));
        }
        long[] detect = failovers.stream().filter(f -> f.detectMillis() >= 0 && f.scenario() == Scenario.PARTITION)
                .mapToLong(Failover::detectMillis).sorted().toArray();
        sb.append(line("partition: lease loss noticed by the old leader", detect));
        long[] sinceLoss = failovers.stream().filter(f -> f.detectMillis() >= 0 && f.scenario() != Scenario.KILL
                        && f.scenario() != Scenario.HARD_KILL)
                .mapToLong(f -> f.millis() - f.detectMillis()).sorted().toArray();
        sb.append(line("from the old leader's lease loss (expire, partition, restart)", sinceLoss));
        sb.append("history: ").append(history).append(", writes refused by the replicas' term fence: ")
                .append(history.failuresMentioning("fenced")).append(", zombie writes acknowledged / refused: ")
                .append(history.ackedBy("-zombie")).append(" / ").append(history.failedBy("-zombie")).append('\n');
        System.out.print(sb);
    }

    private static String line(String label, long[] sorted) {
        if (sorted.length == 0) {
            return label + ": none\n";
        }
        return String.format("%s: n=%d median=%d ms p99=%d ms max=%d ms min=%d ms%n", label, sorted.length,
                percentile(sorted, 50), percentile(sorted, 99), sorted[sorted.length - 1], sorted[0]);
    }

    static long percentile(long[] sorted, int p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}

package dev.volumes.cli;

import dev.volumes.ha.ControllerEvent;
import dev.volumes.ha.ControllerState;
import dev.volumes.ha.Coordinator;
import dev.volumes.ha.Fencer;
import dev.volumes.ha.HaVolume;
import dev.volumes.ha.ReadPolicy;
import dev.volumes.ha.ReplicatedOpener;
import dev.volumes.ha.zookeeper.ZooKeeperCoordination;
import dev.volumes.nbd.NbdServer;
import dev.volumes.nbd.NbdTls;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicationMode;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * {@code volumes ha run}: this node's part in one highly available replicated volume
 * (docs/ha.md, docs/cli.md). A ZooKeeper election picks one writer; the winner fences the replicas
 * with its new term (they durably promise it and refuse every older writer) and only then serves
 * writes. Every node serves the volume over NBD under its name; a follower refuses writes with
 * EPERM (and reads too unless {@code --read-policy any}). Transitions are printed as they happen.
 * {@link #close()} stops the NBD server (drains requests in flight and syncs), then resigns (the
 * next node takes over at once) and closes the replication engine, which commits its state.
 */
final class HaRunner implements Closeable {

    /** What {@code ha run} was asked for; {@code fenceCommand}, {@code metrics}, {@code tls} may be null. */
    record Options(String volume, long size, String nodeId, List<ReplicaAddress> replicas, ReplicationMode mode,
            String zooKeeper, String chroot, Duration sessionTimeout, Duration connectionTimeout, String zkDigest,
            InetSocketAddress listen, Path unixSocket, NbdTls tls, InetSocketAddress metrics, Duration writeTimeout,
            long rebuildRate, List<String> fenceCommand, Duration fenceTimeout, ReadPolicy readPolicy,
            boolean skipInitialSync) {}

    private final HaVolume volume;
    private final NbdServer server;
    private final DaemonMetrics metrics;
    private final int metricsPort;
    private final Options options;

    private HaRunner(HaVolume volume, NbdServer server, DaemonMetrics metrics, int metricsPort, Options options) {
        this.volume = volume;
        this.server = server;
        this.metrics = metrics;
        this.metricsPort = metricsPort;
        this.options = options;
    }

    static HaRunner start(DataDir dir, Options o, PrintStream out) throws IOException {
        Path state = dir.root().resolve("ha").resolve(o.volume());
        Files.createDirectories(state);
        ReplicatedOpener.Builder replication = ReplicatedOpener.builder().volume(o.volume()).nodeId(o.nodeId())
                .mode(o.mode()).stateDir(state).writeTimeout(o.writeTimeout()).rebuildRate(o.rebuildRate())
                .rebuildProgress(RebuildReporter.forDaemon());
        for (ReplicaAddress r : o.replicas()) {
            replication.replica(r.id(), r.connector(o.writeTimeout()));
        }
        if (o.skipInitialSync()) {
            replication.skipInitialSync();
        }
        ZooKeeperCoordination.Builder zk = ZooKeeperCoordination.builder().connectString(o.zooKeeper())
                .sessionTimeout(o.sessionTimeout()).connectionTimeout(o.connectionTimeout()).group("/" + o.volume())
                .nodeId(o.nodeId());
        if (o.chroot() != null && !o.chroot().isEmpty()) {
            zk.chroot(o.chroot());
        }
        if (o.zkDigest() != null) {
            int colon = o.zkDigest().indexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("$" + HaCommand.DIGEST_ENV + " must be USER:PASSWORD");
            }
            zk.digest(o.zkDigest().substring(0, colon), o.zkDigest().substring(colon + 1));
        }
        Coordinator coordinator = zk.build();
        HaVolume.Builder hb = HaVolume.builder().coordinator(coordinator).replication(replication.build())
                .size(o.size()).readPolicy(o.readPolicy())
                .controller(c -> c.observer(e -> printTransition(e, out)));
        if (o.fenceCommand() != null) {
            hb.externalFencer(Fencer.command(o.fenceCommand(), o.nodeId(), o.fenceTimeout()));
        }
        HaVolume volume;
        try {
            volume = hb.start();
        } catch (RuntimeException e) {
            coordinator.close();
            throw e;
        }
        DaemonMetrics metrics = new DaemonMetrics();
        NbdServer server = null;
        try {
            NbdServer.Builder nb = NbdServer.builder().listen(o.listen());
            if (o.unixSocket() != null) {
                nb.unixSocket(o.unixSocket());
            }
            if (o.tls() != null) {
                nb.tls(o.tls());
            }
            server = nb.build();
            server.addExport(o.volume(), metrics.meter(o.volume(), volume.device()),
                    "highly available volume " + o.volume() + " (node " + o.nodeId() + ")");
            server.start();
            registerGauges(metrics, volume, o, server);
            int port = o.metrics() == null ? -1 : metrics.serve(o.metrics());
            return new HaRunner(volume, server, metrics, port, o);
        } catch (IOException | RuntimeException e) {
            if (server != null) {
                try {
                    server.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            volume.close();
            metrics.close();
            throw e;
        }
    }

    /** The controller logs every transition; operators also get one plain line when leadership starts or ends. */
    private static void printTransition(ControllerEvent e, PrintStream out) {
        if (e.to() == ControllerState.LEADER) {
            out.printf("volumes: ha: %s is the leader of term %d and accepts writes%n", e.nodeId(), e.term());
        } else if (e.from() == ControllerState.LEADER) {
            out.printf("volumes: ha: %s is no longer the leader (term %d: %s); writes are refused%n", e.nodeId(), e.term(),
                    e.reason());
        }
        out.flush();
    }

    private static void registerGauges(DaemonMetrics m, HaVolume v, Options o, NbdServer server) {
        m.gauge("volumes_ha_leader", "1 while this node leads the volume and accepts writes",
                () -> v.status().leading() ? 1 : 0);
        m.gauge("volumes_ha_term", "The term this node is fencing or leading (0 as a follower)", () -> v.status().term());
        Map<String, LongSupplier> counters = new LinkedHashMap<>();
        counters.put("elections", () -> v.counters().elections());
        counters.put("fence_attempts", () -> v.counters().fenceAttempts());
        counters.put("fence_failures", () -> v.counters().fenceFailures());
        counters.put("promotions", () -> v.counters().promotions());
        counters.put("demotions", () -> v.counters().demotions());
        counters.put("lease_losses", () -> v.counters().leaseLosses());
        counters.put("refused_writes", () -> v.counters().refusedWrites());
        counters.put("write_path_failures", () -> v.counters().writePathFailures());
        m.gauge("volumes_ha_events", "Controller counters since start, by event", "event", counters);
        Map<String, LongSupplier> inSync = new LinkedHashMap<>();
        for (ReplicaAddress r : o.replicas()) {
            inSync.put(r.id(), () -> replicaState(v, r.id()));
        }
        m.gauge("volumes_ha_replica_in_sync",
                "1 if the replica is in sync in this leader's term, 0 if not, -1 when this node does not lead", "replica",
                inSync);
        Map<String, LongSupplier> rebuildDone = new LinkedHashMap<>();
        Map<String, LongSupplier> rebuildTotal = new LinkedHashMap<>();
        for (ReplicaAddress r : o.replicas()) {
            rebuildDone.put(r.id(), () -> replicaStatus(v, r.id(), ReplicaStatus::rebuildDoneBytes));
            rebuildTotal.put(r.id(), () -> replicaStatus(v, r.id(), ReplicaStatus::rebuildTotalBytes));
        }
        m.gauge("volumes_ha_rebuild_done_bytes",
                "Bytes copied by the replica's running or last rebuild in this leader's term (-1 when not leading)",
                "replica", rebuildDone);
        m.gauge("volumes_ha_rebuild_total_bytes",
                "Bytes the replica's running or last rebuild has to copy (-1 when not leading)", "replica",
                rebuildTotal);
        m.gauge("volumes_nbd_connections", "Open NBD connections", () -> server.stats().connections());
    }

    private static long replicaState(HaVolume v, String id) {
        return replicaStatus(v, id, s -> s.state() == ReplicaState.IN_SYNC ? 1 : 0);
    }

    /** {@code field} of replica {@code id}'s status in this leader's term, or -1 when not leading. */
    private static long replicaStatus(HaVolume v, String id, java.util.function.ToLongFunction<ReplicaStatus> field) {
        for (ReplicaStatus s : v.replicaStatus()) {
            if (s.id().equals(id)) {
                return field.applyAsLong(s);
            }
        }
        return -1;
    }

    void printWelcome(PrintStream out) {
        InetSocketAddress a = server.address();
        String host = a.getAddress().getHostAddress();
        String hostPort = (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
        out.printf("volumes: ha: node %s serving volume '%s' (%s) on nbd://%s/%s%n", options.nodeId(), options.volume(),
                Sizes.format(options.size()), hostPort, options.volume());
        out.printf("  election: ZooKeeper %s, group /%s%s, session timeout %s%n", options.zooKeeper(), options.volume(),
                options.chroot() == null || options.chroot().isEmpty() ? "" : " under /" + options.chroot(),
                Durations.format(options.sessionTimeout()));
        out.printf("  replicas (%s): %s%n", options.mode(), String.join(", ",
                options.replicas().stream().map(r -> r.id().equals(r.host() + ":" + r.port() + "/" + r.export())
                        ? r.toString() : r.id() + "=" + r) .toList()));
        out.printf("  writes are accepted only while this node leads; a follower answers EPERM%s%n",
                options.readPolicy() == ReadPolicy.ANY_STATE ? "" : " (reads too)");
        out.printf("connect with: nbdinfo nbd://%s/%s   (on the leader)%n", hostPort, options.volume());
        if (metricsPort > 0) {
            out.printf("metrics: http://%s/metrics%n", (host.contains(":") ? "[" + host + "]" : host) + ":" + metricsPort);
        }
        out.println("Ctrl-C or SIGTERM stops it cleanly (resigns the lease, commits the replication state).");
        out.flush();
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        try {
            server.close(); // stop accepting, drain requests in flight, sync
        } catch (IOException e) {
            if (!(e.getCause() instanceof dev.volumes.ha.NotLeaderException)) {
                failure = e; // a follower has nothing to sync: its gate refuses, which is not a failure to stop
            }
        }
        try {
            volume.close(); // resign (a successor takes over at once), close the engine: it commits its state
        } catch (RuntimeException e) {
            IOException f = new IOException("stopping the HA controller failed: " + e.getMessage(), e);
            if (failure == null) {
                failure = f;
            } else {
                failure.addSuppressed(f);
            }
        }
        metrics.close();
        if (failure != null) {
            throw failure;
        }
    }
}

package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.nbd.NbdTls;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.pool.VolumeInfo;
import dev.volumes.replica.ReplicaServer;
import dev.volumes.replica.Replication;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code volumes replica serve}: pool volumes of this node served as term-fenced replica exports
 * ({@link ReplicaServer}, docs/replication.md) for the writers of replicated volumes
 * ({@code volumes ha run}). The pool is the data directory's {@code default.pool}, opened
 * exclusively; promised terms live in {@code DIR/replica-terms}. {@link #close()} cuts the
 * writers off, syncs and closes the volumes and the pool.
 */
final class ReplicaNode implements Closeable {

    /** What {@code replica serve} was asked for; {@code createSize} (data bytes) is 0 unless {@code --create}. */
    record Options(InetSocketAddress listen, List<String> volumes, long createSize, long poolSize,
            InetSocketAddress metrics, Duration claimTimeout, NbdTls tls) {}

    private final Pool pool;
    private final Map<String, Device> volumes;
    private final ReplicaServer server;
    private final DaemonMetrics metrics;
    private final int metricsPort;

    private ReplicaNode(Pool pool, Map<String, Device> volumes, ReplicaServer server, DaemonMetrics metrics,
            int metricsPort) {
        this.pool = pool;
        this.volumes = volumes;
        this.server = server;
        this.metrics = metrics;
        this.metricsPort = metricsPort;
    }

    static ReplicaNode start(DataDir dir, Options options, PrintStream out) throws IOException {
        Files.createDirectories(dir.root());
        refuseRunningDaemon(dir);
        Pool pool;
        if (LocalPoolService.exists(dir)) {
            pool = LocalPoolService.openPool(dir);
        } else if (options.createSize() > 0) {
            out.printf("volumes: creating pool %s (%s, sparse)%n", dir.pool(), Sizes.format(options.poolSize()));
            pool = Pool.create(dir.pool(), options.poolSize(), PoolOptions.builder().label("replicas").build());
        } else {
            throw new CliException(ExitCode.NOT_FOUND, "no pool at " + dir.pool()
                    + ": create one with 'volumes pool create', or pass --create SIZE to create the pool and the volumes");
        }
        Map<String, Device> opened = new LinkedHashMap<>();
        DaemonMetrics metrics = new DaemonMetrics();
        try {
            for (String name : options.volumes()) {
                opened.put(name, openReplicaVolume(pool, name, options.createSize(), out));
            }
            pool.sync();
            ReplicaServer.Builder b = ReplicaServer.builder().listen(options.listen())
                    .stateDir(dir.root().resolve("replica-terms")).claimTimeout(options.claimTimeout());
            if (options.tls() != null) {
                b.tls(options.tls());
            }
            for (Map.Entry<String, Device> e : opened.entrySet()) {
                b.export(e.getKey(), e.getValue());
            }
            ReplicaServer server = b.start();
            Map<String, java.util.function.LongSupplier> terms = new LinkedHashMap<>();
            for (String name : opened.keySet()) {
                terms.put(name, () -> server.promisedTerm(name));
            }
            metrics.gauge("volumes_replica_promised_term", "Highest writer term each replica export has promised",
                    "export", terms);
            registerPoolGauges(metrics, pool);
            int port = options.metrics() == null ? -1 : metrics.serve(options.metrics());
            return new ReplicaNode(pool, opened, server, metrics, port);
        } catch (IOException | RuntimeException e) {
            for (Device d : opened.values()) {
                closeQuietly(d, e);
            }
            closeQuietly(pool, e);
            metrics.close();
            throw e;
        }
    }

    private static void refuseRunningDaemon(DataDir dir) {
        ControlClient.connect(dir.controlSocket()).ifPresent(running -> {
            closeQuietly(running, new IOException());
            throw new CliException(ExitCode.IN_USE, "a volumes daemon is serving " + dir.root()
                    + " (its control socket answers): 'replica serve' needs the pool to itself; stop the daemon"
                    + " or give the replicas their own --data-dir");
        });
    }

    /** Opens volume {@code name}, creating it (data + replica header) when {@code createSize > 0} and it is missing. */
    private static Device openReplicaVolume(Pool pool, String name, long createSize, PrintStream out)
            throws IOException {
        VolumeInfo info = pool.find(name).orElse(null);
        if (info == null) {
            if (createSize <= 0) {
                throw new CliException(ExitCode.NOT_FOUND, "no volume '" + name + "' in " + "the pool: create it with"
                        + " 'volumes replica serve --create SIZE " + name + "' (SIZE = the replicated volume's size)");
            }
            info = pool.createVolume(name, Replication.replicaSize(createSize));
            out.printf("volumes: created replica volume '%s' (%s of data + %s replica header)%n", name,
                    Sizes.format(createSize), Sizes.format(Replication.HEADER_BYTES));
        } else if (info.size() <= Replication.HEADER_BYTES) {
            throw new CliException(ExitCode.USAGE, "volume '" + name + "' (" + Sizes.format(info.size())
                    + ") is too small for a replica: it needs its data size plus " + Sizes.format(Replication.HEADER_BYTES)
                    + " for the replica header");
        } else if (createSize > 0 && info.size() != Replication.replicaSize(createSize)) {
            throw new CliException(ExitCode.EXISTS, "volume '" + name + "' exists with "
                    + Sizes.format(info.size() - Replication.HEADER_BYTES) + " of replica data, not the "
                    + Sizes.format(createSize) + " --create asks for");
        }
        if (info.kind() == dev.volumes.pool.VolumeKind.SNAPSHOT) {
            throw new CliException(ExitCode.READ_ONLY, "'" + name + "' is a snapshot: a replica must be writable");
        }
        return pool.openVolume(name);
    }

    private static void registerPoolGauges(DaemonMetrics metrics, Pool pool) {
        metrics.gauge("volumes_pool_used_bytes", "Allocated bytes in the pool", () -> pool.info().usedBytes());
        metrics.gauge("volumes_pool_free_bytes", "Bytes writes can still allocate", () -> pool.info().freeBytes());
    }

    void printWelcome(DataDir dir, PrintStream out) {
        InetSocketAddress a = server.address();
        String host = a.getAddress().getHostAddress();
        String hostPort = (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
        out.printf("volumes: serving replica exports of %s on nbd://%s%n", dir.pool(), hostPort);
        List<String> uris = new ArrayList<>();
        for (Map.Entry<String, Device> e : volumes.entrySet()) {
            long data;
            try {
                data = e.getValue().size() - Replication.HEADER_BYTES;
            } catch (IOException ex) {
                data = -1;
            }
            out.printf("  replica %-20s %10s  promised term %d%n", e.getKey(), data < 0 ? "?" : Sizes.format(data),
                    server.promisedTerm(e.getKey()));
            uris.add("--replica nbd://" + hostPort + "/" + e.getKey());
        }
        out.println("writers reach them with (term-fenced: the writer's term travels in the export name):");
        out.printf("  volumes ha run --volume %s %s ...%n", volumes.keySet().iterator().next(), String.join(" ", uris));
        if (metricsPort > 0) {
            out.printf("metrics: http://%s/metrics%n", (host.contains(":") ? "[" + host + "]" : host) + ":" + metricsPort);
        }
        out.println("Ctrl-C or SIGTERM stops it cleanly (writers are cut off, volumes synced, pool closed).");
        out.flush();
    }

    @Override
    public void close() throws IOException {
        List<Closeable> order = new ArrayList<>();
        order.add(server);
        order.addAll(volumes.values());
        order.add(pool::sync);
        order.add(pool);
        order.add(metrics);
        Shutdown.closeInOrder(order);
    }

    private static void closeQuietly(Closeable c, Throwable primary) {
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            primary.addSuppressed(e);
        }
    }
}

package dev.volumes.cli;

import dev.volumes.nbd.NbdServer;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code volumes serve}: one pool, every volume exported over NBD, a control API on a Unix socket
 * and optional Prometheus metrics. On first run it creates the sparse pool {@code default.pool}
 * with a volume {@code disk}. {@link #close()} shuts down in order: stop taking control requests,
 * stop the NBD server (stop accepting, drain in-flight requests, sync), close the exports and the
 * pool (which commits), stop metrics.
 */
final class Daemon implements Closeable {

    /** What {@code serve} was asked for. {@code unixSocket}, {@code metrics} and {@code tls} may be null. */
    record Options(InetSocketAddress listen, Path unixSocket, InetSocketAddress metrics, long poolSize,
            long volumeSize, dev.volumes.nbd.NbdTls tls, Connections connections) {
    }

    /**
     * Connection limits of the NBD server: at most {@code max} connections, a handshake must finish
     * within {@code handshakeTimeout}, and the TCP send buffer ({@code null}: the server's loopback
     * and remote defaults; 0: kernel autotuning for every client; else bytes).
     */
    record Connections(int max, java.time.Duration handshakeTimeout, Integer tcpSendBuffer) {
    }

    static final String DEFAULT_VOLUME = "disk";

    private final NbdServer server;
    private final ServingPoolService service;
    private final ControlServer control;
    private final DaemonMetrics metrics;
    private final int metricsPort;
    private dev.volumes.nbd.NbdTls tls;

    private Daemon(NbdServer server, ServingPoolService service, ControlServer control, DaemonMetrics metrics,
            int metricsPort) {
        this.server = server;
        this.service = service;
        this.control = control;
        this.metrics = metrics;
        this.metricsPort = metricsPort;
    }

    static Daemon start(DataDir dir, Options options, PrintStream out) throws IOException {
        Files.createDirectories(dir.root());
        ControlClient.connect(dir.controlSocket()).ifPresent(running -> {
            try {
                running.close();
            } catch (IOException ignored) {
                // we only probed it
            }
            throw new CliException(ExitCode.IN_USE, "a volumes daemon is already serving " + dir.root()
                    + " (its control socket " + dir.controlSocket() + " answers); stop it first");
        });
        Pool pool = LocalPoolService.exists(dir) ? LocalPoolService.openPool(dir) : createDefault(dir, options, out);
        DaemonMetrics metrics = new DaemonMetrics();
        NbdServer server = null;
        ServingPoolService service = null;
        try {
            NbdServer.Builder builder = NbdServer.builder().listen(options.listen());
            if (options.unixSocket() != null) {
                builder.unixSocket(options.unixSocket());
            }
            if (options.tls() != null) {
                builder.tls(options.tls());
            }
            Connections connections = options.connections();
            builder.maxConnections(connections.max()).handshakeTimeout(connections.handshakeTimeout());
            if (connections.tcpSendBuffer() != null) {
                builder.tcpSendBuffer(connections.tcpSendBuffer());
            }
            server = builder.build();
            service = new ServingPoolService(LocalPoolService.where(dir), pool, server, metrics,
                    dir.root().resolve("overlays"));
            service.exportAll();
            server.start();
            registerGauges(metrics, pool, server);
            int metricsPort = options.metrics() == null ? -1 : metrics.serve(options.metrics());
            ControlServer control = ControlServer.start(dir.controlSocket(), service);
            Daemon daemon = new Daemon(server, service, control, metrics, metricsPort);
            daemon.tls = options.tls();
            return daemon;
        } catch (IOException | RuntimeException e) {
            closeQuietly(server, e);
            closeQuietly(service != null ? service : pool, e);
            metrics.close();
            throw e;
        }
    }

    private static Pool createDefault(DataDir dir, Options options, PrintStream out) throws IOException {
        out.printf("volumes: first run: creating pool %s (%s, sparse) with volume '%s' (%s)%n", dir.pool(),
                Sizes.format(options.poolSize()), DEFAULT_VOLUME, Sizes.format(options.volumeSize()));
        Pool pool = Pool.create(dir.pool(), options.poolSize(), PoolOptions.builder().label("default").build());
        try {
            pool.createVolume(DEFAULT_VOLUME, options.volumeSize());
            pool.sync();
            return pool;
        } catch (IOException | RuntimeException e) {
            closeQuietly(pool, e);
            throw e;
        }
    }

    private static void registerGauges(DaemonMetrics metrics, Pool pool, NbdServer server) {
        metrics.gauge("volumes_pool_used_bytes", "Allocated bytes in the pool", () -> pool.info().usedBytes());
        metrics.gauge("volumes_pool_free_bytes", "Bytes writes can still allocate", () -> pool.info().freeBytes());
        metrics.gauge("volumes_pool_reserved_bytes", "Bytes reserved for commits and deletes on a full pool",
                () -> pool.info().reservedBytes());
        metrics.gauge("volumes_pool_volumes", "Volumes, snapshots and clones in the pool", () -> pool.list().size());
        metrics.gauge("volumes_nbd_connections", "Open NBD connections", () -> server.stats().connections());
    }

    private static void closeQuietly(Closeable c, Throwable primary) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            primary.addSuppressed(e);
        }
    }

    NbdServer server() {
        return server;
    }

    int metricsPort() {
        return metricsPort;
    }

    /** Prints how to reach the daemon: the exports and exact nbdinfo, qemu and nbdfuse lines. */
    void printWelcome(DataDir dir, PrintStream out) throws IOException {
        InetSocketAddress a = server.address();
        String host = a.getAddress().getHostAddress();
        String hostPort = (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
        String base = "nbd://" + hostPort;
        out.printf("volumes: serving pool %s on %s%s%n", service.path(), base, tls == null ? ""
                : tls.required() ? " (TLS 1.3 required" + (tls.requiresClientCertificates() ? ", client certificates checked)" : ")")
                : " (TLS 1.3 offered, plaintext allowed)");
        for (VolumeView v : service.list()) {
            out.printf("  export %-20s %-9s %10s%s%n", v.name(), v.kind(), Sizes.format(v.size()),
                    v.kind().equals("snapshot") ? "  (read-only)" : "");
        }
        String first = service.list().isEmpty() ? DEFAULT_VOLUME : service.list().getFirst().name();
        out.println("connect with:");
        if (tls != null) {
            out.printf("  nbdinfo 'nbds://%s/%s?tls-certificates=CERTDIR'   # CERTDIR holds ca-cert.pem%s%n", hostPort, first,
                    tls.requiresClientCertificates() ? ", client-cert.pem, client-key.pem" : "");
            out.printf("  qemu-img info --object tls-creds-x509,id=tls0,dir=CERTDIR,endpoint=client "
                    + "--image-opts driver=nbd,host=%s,port=%d,export=%s,tls-creds=tls0%n", host, a.getPort(), first);
        }
        if (tls != null && tls.required()) {
            out.printf("  %s --data-dir %s snapshot create %s snap1   # live snapshot, from another terminal%n",
                    System.getenv().getOrDefault("VOLUMES_COMMAND", "volumes"), dir.root(), first);
            printTail(dir, host, out);
            return;
        }
        out.printf("  nbdinfo %s/%s%n", base, first);
        out.printf("  qemu-img info -f raw %s/%s%n", base, first);
        out.printf("  mkdir -p /tmp/%1$s && nbdfuse /tmp/%1$s %2$s/%1$s &   # then: mkfs.ext4 /tmp/%1$s/nbd; mount -o loop /tmp/%1$s/nbd /mnt%n",
                first, base);
        String command = System.getenv().getOrDefault("VOLUMES_COMMAND", "volumes");
        out.printf("  %s --data-dir %s snapshot create %s snap1   # live snapshot, from another terminal%n",
                command, dir.root(), first);
        printTail(dir, host, out);
    }

    private void printTail(DataDir dir, String host, PrintStream out) {
        if (metricsPort > 0) {
            out.printf("metrics: http://%s:%d/metrics%n", host.contains(":") ? "[" + host + "]" : host, metricsPort);
        }
        out.printf("control socket: %s%n", dir.controlSocket());
        out.println("Ctrl-C or SIGTERM stops the daemon cleanly (drain, sync, close).");
        out.flush();
    }

    @Override
    public void close() throws IOException {
        Shutdown.closeInOrder(java.util.List.of(control, server, service, metrics));
    }
}

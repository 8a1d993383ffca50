package dev.volumes.bench;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.replica.RebuildReport;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaServer;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.Replication;
import dev.volumes.replica.ReplicationMode;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Replication benchmark (not JMH: it needs servers, sockets and latency percentiles). Two parts:
 *
 * <ul>
 *   <li>{@code writes}: 4 KiB random writes (16 threads) and 1 MiB writes (4 threads) for a few
 *       seconds each, on a single local pool volume and on a replicated device with 1, 2 and 3
 *       replicas, each replica a pool volume behind its own {@link ReplicaServer} on loopback
 *       (QUORUM mode). Prints IOPS, MiB/s, p50 and p99 latency and the ratio to the local
 *       volume.</li>
 *   <li>{@code rebuild}: a 4 GiB two-replica set (local file + file behind a replica server on
 *       loopback), fully written; the remote replica goes away, 1 % of the volume changes (as 41
 *       random 1 MiB extents, and separately as random 4 KiB writes), it comes back and is
 *       delta-rebuilt; then it is replaced and fully rebuilt. Prints the times.</li>
 * </ul>
 * Usage: {@code java -cp bench/target/benchmarks.jar dev.volumes.bench.ReplicationBench
 * [writes|rebuild|all] [seconds]} (see bench/replication.sh). Files go to a temporary directory
 * under {@code java.io.tmpdir} and are deleted.
 */
public final class ReplicationBench {

    private static final int AREA = 64 << 10;

    private ReplicationBench() {}

    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "all";
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        Path dir = Files.createTempDirectory("replication-bench");
        try {
            if (what.equals("writes") || what.equals("all")) {
                writes(dir.resolve("writes"), seconds);
            }
            if (what.equals("rebuild") || what.equals("all")) {
                rebuild(dir.resolve("rebuild"));
            }
        } finally {
            deleteTree(dir);
        }
    }

    // ------------------------------------------------------------------ writes

    record Result(String config, double iops4k, double p50us4k, double p99us4k, double mibs1m, double p99ms1m) {}

    private static void writes(Path dir, int seconds) throws Exception {
        long volume = 256L << 20;
        List<Result> results = new ArrayList<>();
        for (int replicas = 0; replicas <= 3; replicas++) {
            Path d = dir.resolve("n" + replicas);
            Files.createDirectories(d);
            List<AutoCloseable> closers = new ArrayList<>();
            try {
                Device dev;
                String config;
                if (replicas == 0) {
                    Pool pool = Pool.create(d.resolve("local.pool"), volume * 2, PoolOptions.defaults());
                    closers.add(pool);
                    pool.createVolume("vol", volume);
                    dev = pool.openVolume("vol");
                    config = "local pool volume";
                } else {
                    Replication.Builder b = Replication.builder().name("bench").term(1).writer("bench")
                            .mode(ReplicationMode.QUORUM).stateDir(d.resolve("state"))
                            .writeTimeout(Duration.ofSeconds(30)).skipInitialSync();
                    for (int i = 0; i < replicas; i++) {
                        Pool pool = Pool.create(d.resolve("r" + i + ".pool"), volume * 2, PoolOptions.defaults());
                        closers.add(pool);
                        pool.createVolume("vol", volume + AREA);
                        Device v = pool.openVolume("vol");
                        closers.add(v);
                        ReplicaServer s = ReplicaServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                                .export("vol", v).stateDir(d.resolve("server" + i)).start();
                        closers.add(s);
                        b.replica("r" + i, ReplicaConnector.nbd("127.0.0.1", s.address().getPort(), "vol",
                                Duration.ofSeconds(30), Duration.ofSeconds(5)));
                    }
                    dev = b.open();
                    config = replicas + " replica" + (replicas > 1 ? "s" : "") + " (NBD loopback)";
                }
                closers.add(dev);
                long[] lat4k = run(dev, 4096, 16, seconds, volume);
                long[] lat1m = run(dev, 1 << 20, 4, seconds, volume);
                results.add(new Result(config, lat4k.length / (double) seconds, pct(lat4k, 0.50) / 1e3,
                        pct(lat4k, 0.99) / 1e3, lat1m.length / (double) seconds, pct(lat1m, 0.99) / 1e6));
                System.err.println("done: " + config);
            } finally {
                for (int i = closers.size() - 1; i >= 0; i--) {
                    closers.get(i).close();
                }
            }
        }
        Result base = results.getFirst();
        System.out.println();
        System.out.println("| configuration | 4 KiB random write IOPS | ratio | p50 µs | p99 µs | 1 MiB write MiB/s | ratio | p99 ms |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (Result r : results) {
            System.out.printf("| %s | %.0f | %.2f | %.0f | %.0f | %.0f | %.2f | %.1f |%n", r.config(), r.iops4k(),
                    r.iops4k() / base.iops4k(), r.p50us4k(), r.p99us4k(), r.mibs1m(), r.mibs1m() / base.mibs1m(),
                    r.p99ms1m());
        }
    }

    /** Writes {@code size}-byte blocks at random aligned offsets from {@code threads} threads; returns latencies (ns). */
    private static long[] run(Device dev, int size, int threads, int seconds, long volume) throws Exception {
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<long[]>> fs = new ArrayList<>();
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int t = 0; t < threads; t++) {
                long seed = t;
                fs.add(ex.submit(() -> {
                    Random rnd = new Random(seed);
                    byte[] data = new byte[size];
                    rnd.nextBytes(data);
                    ByteBuffer buf = ByteBuffer.allocateDirect(size);
                    long[] lat = new long[1 << 16];
                    int n = 0;
                    long blocks = volume / size;
                    while (!stop.get()) {
                        buf.clear();
                        buf.put(data).flip();
                        long at = (long) (rnd.nextDouble() * blocks) * size;
                        long t0 = System.nanoTime();
                        dev.write(buf, at);
                        long dt = System.nanoTime() - t0;
                        if (measuring.get()) {
                            if (n == lat.length) {
                                lat = Arrays.copyOf(lat, n * 2);
                            }
                            lat[n++] = dt;
                        }
                    }
                    return Arrays.copyOf(lat, n);
                }));
            }
            Thread.sleep(1000);
            measuring.set(true);
            Thread.sleep(seconds * 1000L);
            measuring.set(false);
            stop.set(true);
            List<long[]> parts = new ArrayList<>();
            for (Future<long[]> f : fs) {
                parts.add(f.get());
            }
            long[] all = parts.stream().flatMapToLong(Arrays::stream).toArray();
            Arrays.sort(all);
            return all;
        }
    }

    private static double pct(long[] sorted, double p) {
        return sorted.length == 0 ? Double.NaN : sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))];
    }

    // ----------------------------------------------------------------- rebuild

    private static void rebuild(Path dir) throws Exception {
        long size = 4L << 30;
        Files.createDirectories(dir);
        FileDevice local = FileDevice.create(dir.resolve("r0.img"), size + AREA);
        FileDevice remote = FileDevice.create(dir.resolve("r1.img"), size + AREA);
        ServerHolder server = new ServerHolder(remote, dir.resolve("server"));
        server.start(0);
        int port = server.port;
        Replication.Builder b = Replication.builder().name("rebuild-bench").term(1).writer("bench")
                .mode(ReplicationMode.minInSync(1)).stateDir(dir.resolve("state"))
                .writeTimeout(Duration.ofSeconds(30)).skipInitialSync()
                .replica("r0", new Unclosable(local))
                .replica("r1", ReplicaConnector.nbd("127.0.0.1", port, "vol", Duration.ofSeconds(30), Duration.ZERO));
        try (ReplicatedDevice dev = b.open()) {
            long t0 = System.nanoTime();
            fill(dev, size);
            quiesce(dev);
            System.err.printf("filled 4 GiB on both replicas in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            Random rnd = new Random(42);

            // 1 % as 41 random 1 MiB extents
            server.stop();
            byte[] mib = new byte[1 << 20];
            rnd.nextBytes(mib);
            for (int i = 0; i < 41; i++) {
                dev.write(ByteBuffer.wrap(mib), (long) rnd.nextInt((int) (size >> 20)) << 20);
            }
            server.start(port);
            RebuildReport clustered = dev.rebuild("r1");
            quiesce(dev);

            // 1 % as random 4 KiB writes
            server.stop();
            byte[] blk = new byte[4096];
            for (int i = 0; i < (int) (size / 100 / 4096); i++) {
                rnd.nextBytes(blk);
                dev.write(ByteBuffer.wrap(blk), (long) rnd.nextInt((int) (size >> 12)) << 12);
            }
            server.start(port);
            RebuildReport scattered = dev.rebuild("r1");
            quiesce(dev);

            // full: replace r1 by a blank file and rebuild everything
            server.stop();
            dev.write(ByteBuffer.wrap(blk), 0);
            FileDevice fresh = FileDevice.create(dir.resolve("r1-new.img"), size + AREA);
            ServerHolder freshServer = new ServerHolder(fresh, dir.resolve("server-new"));
            freshServer.start(0);
            dev.replace("r1", ReplicaConnector.nbd("127.0.0.1", freshServer.port, "vol", Duration.ofSeconds(30),
                    Duration.ZERO));
            RebuildReport full = dev.rebuild("r1");
            freshServer.stop();
            fresh.close();

            System.out.println();
            System.out.println("| rebuild of a 4 GiB replica over NBD loopback | regions copied (1 MiB) | bytes copied | time s | MiB/s |");
            System.out.println("|---|---:|---:|---:|---:|");
            row("delta, 1 % changed as 41 random 1 MiB extents", clustered);
            row("delta, 1 % changed as random 4 KiB writes", scattered);
            row("full (replaced by a blank replica)", full);
        } finally {
            server.stop();
            local.close();
            remote.close();
        }
    }

    /** Two syncs with every replica in sync retire the activity-log bits of idle regions. */
    private static void quiesce(ReplicatedDevice dev) throws IOException {
        dev.sync();
        dev.sync();
        if (dev.dirtyRegions() != 0) {
            throw new IllegalStateException("dirty regions left after two quiet syncs: " + dev.dirtyRegions());
        }
    }

    private static void row(String what, RebuildReport r) {
        double s = r.elapsed().toNanos() / 1e9;
        System.out.printf("| %s | %d | %d | %.2f | %.0f |%n", what, r.regions(), r.bytesCopied(), s,
                r.bytesCopied() / 1048576.0 / s);
    }

    private static void fill(Device dev, long size) throws Exception {
        int chunk = 1 << 20;
        int threads = 8;
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                fs.add(ex.submit(() -> {
                    byte[] data = new byte[chunk];
                    new Random(id).nextBytes(data);
                    ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
                    for (long at = (long) id * chunk; at < size; at += (long) threads * chunk) {
                        buf.clear();
                        buf.put(data).flip();
                        dev.write(buf, at);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
    }

    /** A replica server that can be stopped and started again on the same port. */
    private static final class ServerHolder {
        private final Device device;
        private final Path stateDir;
        private ReplicaServer server;
        int port;

        ServerHolder(Device device, Path stateDir) {
            this.device = device;
            this.stateDir = stateDir;
        }

        void start(int p) throws IOException {
            server = ReplicaServer.builder().listen(new InetSocketAddress("127.0.0.1", p)).export("vol", device)
                    .stateDir(stateDir).start();
            port = server.address().getPort();
        }

        void stop() throws IOException {
            if (server != null) {
                server.close();
                server = null;
            }
        }
    }

    private static final class Unclosable extends dev.volumes.device.ForwardingDevice {
        Unclosable(Device d) {
            super(d);
        }

        @Override
        public void close() {}
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}

package dev.volumes.bench;

import dev.volumes.device.Device;
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
 *   <li>{@code rebuild}: a two-replica set (default 4 GiB) whose replicas are both pool volumes in
 *       file-backed pools: r0 local (claimed in-process through its {@link ReplicaServer}), r1
 *       behind a {@link ReplicaServer} on loopback. The set is fully written, so r1's volume is
 *       allocated everywhere. Then r1's server goes away, 1 % of the volume changes (as random
 *       1 MiB extents, and separately as random 4 KiB writes), it comes back and is
 *       delta-rebuilt. Then a <b>full</b> rebuild of the <em>same</em>, already allocated r1 is
 *       forced ({@code replace("r1", sameConnector)}: needs-full, header wiped, everything
 *       copied), so delta and full both overwrite allocated blocks of the same volume over the
 *       same socket — like for like. With {@code blank=true} a full rebuild onto a new, empty
 *       pool volume (allocation included) is added for comparison. Prints the times.</li>
 * </ul>
 * Usage: {@code java -cp bench/target/benchmarks.jar dev.volumes.bench.ReplicationBench
 * [writes|rebuild|all] [seconds] [size=4g] [region=1m] [blank=true]} (see bench/replication.sh):
 * {@code size} is the rebuild part's data size, {@code region} the activity-log region size (bytes
 * per dirty bit; the delta copies whole regions, so it decides how much 1 % of scattered 4 KiB
 * writes costs). {@code BENCH_QUICK=1} in the environment is a smoke run (tiny sizes, a fraction of
 * a second per measurement; numbers meaningless). Files go to a temporary directory under
 * {@code java.io.tmpdir} and are deleted.
 */
public final class ReplicationBench {

    private static final boolean QUICK = "1".equals(System.getenv("BENCH_QUICK"));

    private ReplicationBench() {}

    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "all";
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        long size = QUICK ? 64L << 20 : 4L << 30;
        long region = 1 << 20;
        boolean blank = false;
        for (int i = 2; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("expected key=value, got " + args[i]);
            }
            switch (kv[0]) {
                case "size" -> size = bytes(kv[1]);
                case "region" -> region = bytes(kv[1]);
                case "blank" -> blank = Boolean.parseBoolean(kv[1]);
                default -> throw new IllegalArgumentException("unknown option " + kv[0] + " (size, region, blank)");
            }
        }
        Path dir = Files.createTempDirectory("replication-bench");
        try {
            if (what.equals("writes") || what.equals("all")) {
                writes(dir.resolve("writes"), seconds);
            }
            if (what.equals("rebuild") || what.equals("all")) {
                rebuild(dir.resolve("rebuild"), size, region, blank);
            }
        } finally {
            deleteTree(dir);
        }
    }

    /** {@code 4g}, {@code 64m}, {@code 256k} or plain bytes. */
    static long bytes(String v) {
        String s = v.trim().toLowerCase(java.util.Locale.ROOT);
        int shift = switch (s.isEmpty() ? ' ' : s.charAt(s.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
        };
        return Long.parseLong(shift == 0 ? s : s.substring(0, s.length() - 1)) << shift;
    }

    // ------------------------------------------------------------------ writes

    record Result(String config, double iops4k, double p50us4k, double p99us4k, double mibs1m, double p99ms1m) {}

    private static void writes(Path dir, int seconds) throws Exception {
        long volume = QUICK ? 16L << 20 : 256L << 20;
        List<Result> results = new ArrayList<>();
        for (int replicas = 0; replicas <= (QUICK ? 1 : 3); replicas++) {
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
                        pool.createVolume("vol", Replication.replicaSize(volume));
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
                long measureMillis = QUICK ? 100 : seconds * 1000L;
                long[] lat4k = run(dev, 4096, 16, measureMillis, volume);
                long[] lat1m = run(dev, 1 << 20, 4, measureMillis, volume);
                double secs = measureMillis / 1000.0;
                results.add(new Result(config, lat4k.length / secs, pct(lat4k, 0.50) / 1e3,
                        pct(lat4k, 0.99) / 1e3, lat1m.length / secs, pct(lat1m, 0.99) / 1e6));
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
    private static long[] run(Device dev, int size, int threads, long measureMillis, long volume) throws Exception {
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
            Thread.sleep(QUICK ? 100 : 1000); // warm-up
            measuring.set(true);
            Thread.sleep(measureMillis);
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

    private static void rebuild(Path dir, long size, long region, boolean blank) throws Exception {
        Files.createDirectories(dir);
        long poolSize = Replication.replicaSize(size) + Math.max(size / 8, 64L << 20); // room for metadata
        List<AutoCloseable> closers = new ArrayList<>();
        try {
            Device local = volume(dir.resolve("r0.pool"), poolSize, size, closers);
            ReplicaServer localServer = ReplicaServer.builder().export("vol", local).stateDir(dir.resolve("server0"))
                    .start();
            closers.add(localServer);
            Device remote = volume(dir.resolve("r1.pool"), poolSize, size, closers);
            ServerHolder server = new ServerHolder(remote, dir.resolve("server1"));
            closers.add(server::stop);
            server.start(0);
            int port = server.port;
            ReplicaConnector r1 = ReplicaConnector.nbd("127.0.0.1", port, "vol", Duration.ofSeconds(30), Duration.ZERO);
            Replication.Builder b = Replication.builder().name("rebuild-bench").term(1).writer("bench")
                    .mode(ReplicationMode.minInSync(1)).stateDir(dir.resolve("state"))
                    .writeTimeout(Duration.ofSeconds(30)).skipInitialSync().regionSize(region)
                    .replica("r0", localServer.localConnector("vol"))
                    .replica("r1", r1);
            try (ReplicatedDevice dev = b.open()) {
                long t0 = System.nanoTime();
                fill(dev, size);
                quiesce(dev);
                System.err.printf("filled %d MiB on both replicas in %.1f s%n", size >> 20,
                        (System.nanoTime() - t0) / 1e9);
                Random rnd = new Random(42);
                long onePercent = Math.max(size / 100, 1 << 20);

                // 1 % as random 1 MiB extents (MiB-aligned)
                server.stop();
                byte[] mib = new byte[1 << 20];
                rnd.nextBytes(mib);
                for (long i = 0; i < onePercent >> 20; i++) {
                    dev.write(ByteBuffer.wrap(mib), (long) rnd.nextInt((int) (size >> 20)) << 20);
                }
                server.start(port);
                RebuildReport clustered = dev.rebuild("r1");
                quiesce(dev);

                // 1 % as random 4 KiB writes
                server.stop();
                byte[] blk = new byte[4096];
                for (long i = 0; i < onePercent / 4096; i++) {
                    rnd.nextBytes(blk);
                    dev.write(ByteBuffer.wrap(blk), (long) rnd.nextInt((int) (size >> 12)) << 12);
                }
                server.start(port);
                RebuildReport scattered = dev.rebuild("r1");
                quiesce(dev);

                // full, like for like: the same allocated volume behind the same server, forced to a
                // full resync by replacing r1 with a connector to itself
                server.stop();
                dev.write(ByteBuffer.wrap(blk), 0); // r1 drops out
                server.start(port);
                dev.replace("r1", r1);
                RebuildReport full = dev.rebuild("r1");
                quiesce(dev);

                RebuildReport fresh = null;
                if (blank) {
                    // full onto a new, empty pool volume (its blocks are allocated by the copy)
                    server.stop();
                    dev.write(ByteBuffer.wrap(blk), 0);
                    Device empty = volume(dir.resolve("r1-new.pool"), poolSize, size, closers);
                    ServerHolder freshServer = new ServerHolder(empty, dir.resolve("server-new"));
                    closers.add(freshServer::stop);
                    freshServer.start(0);
                    dev.replace("r1", ReplicaConnector.nbd("127.0.0.1", freshServer.port, "vol",
                            Duration.ofSeconds(30), Duration.ZERO));
                    fresh = dev.rebuild("r1");
                }

                System.out.println();
                System.out.printf("| rebuild of a %d MiB pool-volume replica over NBD loopback, %d KiB regions "
                        + "| regions copied | bytes copied | time s | MiB/s |%n", size >> 20, region >> 10);
                System.out.println("|---|---:|---:|---:|---:|");
                row("delta, 1 % changed as random 1 MiB extents", clustered);
                row("delta, 1 % changed as random 4 KiB writes", scattered);
                row("full, same allocated volume (forced full resync)", full);
                if (fresh != null) {
                    row("full, new empty pool volume (allocating)", fresh);
                }
            }
        } finally {
            for (int i = closers.size() - 1; i >= 0; i--) {
                closers.get(i).close();
            }
        }
    }

    /** A new file-backed pool at {@code file} with one volume "vol" sized for {@code size} data bytes. */
    private static Device volume(Path file, long poolSize, long size, List<AutoCloseable> closers)
            throws IOException {
        Pool pool = Pool.create(file, poolSize, PoolOptions.defaults());
        closers.add(pool);
        pool.createVolume("vol", Replication.replicaSize(size));
        Device v = pool.openVolume("vol");
        closers.add(v);
        return v;
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

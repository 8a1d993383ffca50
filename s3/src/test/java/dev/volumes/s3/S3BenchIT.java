package dev.volumes.s3;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.volumes.device.Device;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A benchmark, not a test: runs only with {@code -Dvolumes.s3.bench=true} and asserts nothing.
 * One s3proxy (transient store) on 127.0.0.1; prints MiB/s and IOPS for S3Device (raw and under a
 * pool) with chunk-size and concurrency sweeps, and for nbdkit's S3 plugin driven by nbdcopy and
 * fio over NBD. Results are recorded in docs/benchmarks.md.
 */
class S3BenchIT {

    static final int MIB = 1 << 20;
    static final int DATA = Integer.getInteger("volumes.s3.bench.mib", 64) * MIB;

    @Test
    void bench() throws Exception {
        assumeTrue(Boolean.getBoolean("volumes.s3.bench"), "benchmark: run with -Dvolumes.s3.bench=true");
        byte[] data = new byte[DATA];
        new Random(1).nextBytes(data);
        try (S3ProxyPeer peer = S3ProxyPeer.start(); S3Client client = S3Client.create(peer.config().build())) {
            client.createBucket("bench");
            int n = 0;
            boolean ours = !"nbdkit".equals(System.getProperty("volumes.s3.bench.only"));
            for (int chunk : ours ? new int[] {64 << 10, 256 << 10, 1 << 20, 4 << 20} : new int[0]) {
                for (int conc : new int[] {4, 16}) {
                    String prefix = "raw" + (n++) + "/";
                    raw(client, prefix, chunk, conc, data);
                    wipe(client, prefix);
                }
            }
            for (int chunk : ours ? new int[] {256 << 10, 1 << 20} : new int[0]) {
                String prefix = "pool" + (n++) + "/";
                pool(client, prefix, chunk, 16, data);
                wipe(client, prefix);
            }
            nbdkit(peer, data);
        }
    }

    private static void wipe(S3Client c, String prefix) throws IOException {
        c.deleteObjects("bench", c.listAll("bench", prefix, null).stream().map(S3Client.ObjectInfo::key).toList());
    }

    private static S3DeviceOptions.Builder opts(S3Client c, String prefix, int chunk, int conc) {
        return S3DeviceOptions.builder(c, "bench", prefix).chunkSize(chunk).uploadConcurrency(conc)
                .cacheBytes(32L * MIB).readAheadChunks(Math.max(4, 8 * MIB / chunk));
    }

    private static void raw(S3Client c, String prefix, int chunk, int conc, byte[] data) throws IOException {
        long t0 = System.nanoTime();
        try (S3Device d = S3Device.create(opts(c, prefix, chunk, conc).build(), data.length)) {
            for (int off = 0; off < data.length; off += 256 << 10) {
                d.write(ByteBuffer.wrap(data, off, 256 << 10), off);
            }
            d.sync();
            long t1 = System.nanoTime();
            print("S3Device raw seq write+sync", chunk, conc, data.length, t1 - t0);
        }
        try (S3Device d = S3Device.open(opts(c, prefix, chunk, conc).readOnly(true).build())) {
            long t0r = System.nanoTime();
            ByteBuffer b = ByteBuffer.allocate(256 << 10);
            for (int off = 0; off < data.length; off += 256 << 10) {
                b.clear();
                d.read(b, off);
            }
            print("S3Device raw seq read (cold)", chunk, conc, data.length, System.nanoTime() - t0r);
        }
    }

    private static void pool(S3Client c, String prefix, int chunk, int conc, byte[] data) throws Exception {
        long dev = 4L * data.length;
        try (Pool pool = Pool.create(S3Device.create(opts(c, prefix, chunk, conc).build(), dev), PoolOptions.defaults())) {
            pool.createVolume("v", data.length);
            try (Device v = pool.openVolume("v")) {
                long t0 = System.nanoTime();
                for (int off = 0; off < data.length; off += 256 << 10) {
                    v.write(ByteBuffer.wrap(data, off, 256 << 10), off);
                }
                pool.sync();
                print("pool on S3Device seq write+sync", chunk, conc, data.length, System.nanoTime() - t0);
                int ops = 4000;
                long t1 = System.nanoTime();
                random4k(v, data.length, ops, true);
                pool.sync();
                printIops("pool on S3Device 4K randwrite+sync (16 threads)", chunk, conc, ops, System.nanoTime() - t1);
            }
        }
        try (Pool pool = Pool.open(S3Device.open(opts(c, prefix, chunk, conc).build())); Device v = pool.openVolume("v")) {
            long t0 = System.nanoTime();
            ByteBuffer b = ByteBuffer.allocate(256 << 10);
            for (int off = 0; off < data.length; off += 256 << 10) {
                b.clear();
                v.read(b, off);
            }
            print("pool on S3Device seq read (cold)", chunk, conc, data.length, System.nanoTime() - t0);
            int ops = 4000;
            long t1 = System.nanoTime();
            random4k(v, data.length, ops, false);
            printIops("pool on S3Device 4K randread (16 threads, warm)", chunk, conc, ops, System.nanoTime() - t1);
        }
    }

    private static void random4k(Device v, long size, int ops, boolean write) throws Exception {
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int seed = t;
                fs.add(ex.submit(() -> {
                    Random r = new Random(seed);
                    ByteBuffer b = ByteBuffer.allocate(4096);
                    for (int i = 0; i < ops / 16; i++) {
                        long off = (long) r.nextInt((int) (size / 4096)) * 4096;
                        b.clear();
                        if (write) {
                            r.nextBytes(b.array());
                            v.write(b, off);
                        } else {
                            v.read(b, off);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
    }

    private static void nbdkit(S3ProxyPeer peer, byte[] data) throws Exception {
        if (Peers.find("nbdkit").isEmpty() || !Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-S3-plugin"))) {
            System.out.println("BENCH nbdkit S3 plugin: not installed (nbdkit-plugin-python, python3-boto3)");
            return;
        }
        Path dir = Files.createTempDirectory("bench");
        Path src = dir.resolve("src.bin");
        Files.write(src, data);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Process nbd = new ProcessBuilder("nbdkit", "--exit-with-parent", "-f", "-i", "127.0.0.1", "-p",
                Integer.toString(port), "--filter=blocksize", "S3", "access-key=" + peer.credentials.accessKeyId(),
                "secret-key=" + peer.credentials.secretAccessKey(), "endpoint-url=" + peer.endpoint, "bucket=bench",
                "key=nbdkit", "size=" + data.length, "object-size=64K").redirectErrorStream(true)
                .redirectOutput(dir.resolve("nbdkit.log").toFile()).start();
        try {
            Thread.sleep(3000);
            String uri = "nbd://127.0.0.1:" + port;
            long t0 = System.nanoTime();
            run("nbdcopy", "--flush", src.toString(), uri);
            print("nbdkit S3 plugin seq write+flush (nbdcopy)", 64 << 10, 0, data.length, System.nanoTime() - t0);
            long t1 = System.nanoTime();
            run("nbdcopy", uri, dir.resolve("out.bin").toString());
            print("nbdkit S3 plugin seq read (nbdcopy)", 64 << 10, 0, data.length, System.nanoTime() - t1);
            for (String rw : new String[] {"randwrite", "randread"}) {
                long t2 = System.nanoTime();
                run("fio", "--name=b", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw, "--bs=4k", "--iodepth=16",
                        "--size=" + data.length, "--number_ios=250", "--numjobs=1", "--output=" + dir.resolve("fio.txt"));
                printIops("nbdkit S3 plugin 4K " + rw + " (fio nbd, iodepth 16, 250 ops)", 64 << 10, 0, 250,
                        System.nanoTime() - t2);
            }
        } finally {
            nbd.destroy();
            nbd.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    private static void print(String what, int chunk, int conc, long bytes, long nanos) {
        System.out.printf("BENCH %-48s chunk=%5dK conc=%2d  %8.1f MiB/s%n", what, chunk >> 10, conc,
                bytes / (double) MIB / (nanos / 1e9));
    }

    private static void printIops(String what, int chunk, int conc, int ops, long nanos) {
        System.out.printf("BENCH %-48s chunk=%5dK conc=%2d  %8.0f IOPS%n", what, chunk >> 10, conc, ops / (nanos / 1e9));
    }
}

package dev.volumes.oci;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Side-by-side benchmark, not a test: runs only with {@code -Dvolumes.bench=true} and asserts no
 * time. In one run against one local docker-registry, freezes and pulls the same bytes with our
 * client and copies them with skopeo, and prints a Markdown table for docs/benchmarks.md; then
 * prints dedup ratios for a sparse and a repetitive image.
 */
class OciVsSkopeoBenchIT {

    @TempDir
    Path tmp;

    private static final int MIB = 1 << 20;

    private static double mbps(long bytes, long nanos) {
        return bytes / 1e6 / (nanos / 1e9);
    }

    private static long skopeo(Path exe, String... args) throws IOException, InterruptedException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = exe.toString();
        System.arraycopy(args, 0, cmd, 1, args.length);
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("skopeo failed: " + out);
        }
        return System.nanoTime() - t0;
    }

    private static long readAll(Device d) throws IOException {
        long t0 = System.nanoTime();
        ByteBuffer buf = ByteBuffer.allocate(4 * MIB);
        for (long off = 0; off < d.size(); off += buf.capacity()) {
            buf.clear().limit((int) Math.min(buf.capacity(), d.size() - off));
            d.read(buf, off);
        }
        return System.nanoTime() - t0;
    }

    @Test
    void freezeAndPullThroughputVersusSkopeoCopy() throws Exception {
        assumeTrue(Boolean.getBoolean("volumes.bench"), "benchmark: run with -Dvolumes.bench=true");
        Path skopeo = Peers.require("skopeo", "skopeo");
        int sizeMib = Integer.getInteger("volumes.bench.mib", 256);
        long size = (long) sizeMib * MIB;
        MemoryDevice src = MemoryDevice.create("bench", size);
        Random rnd = new Random(1);
        byte[] chunk = new byte[4 * MIB];
        for (long off = 0; off < size; off += chunk.length) {
            rnd.nextBytes(chunk); // incompressible, no repeats: every byte travels
            src.write(ByteBuffer.wrap(chunk), off);
        }
        StringBuilder table = new StringBuilder();
        table.append("| operation (" + sizeMib + " MiB of random data, 4 MiB chunks) | time ms | MB/s |\n|---|---|---|\n");
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"));
                TestRegistry fresh = TestRegistry.open(tmp.resolve("fresh"));
                TestRegistry fresh2 = TestRegistry.open(tmp.resolve("fresh2"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            String host = "127.0.0.1:" + reg.port();

            long t0 = System.nanoTime();
            OciImages.freeze(src, client, ImageRef.parse("bench/ours:v1"), FreezeOptions.defaults());
            long freeze = System.nanoTime() - t0;
            long pull;
            try (ImageDevice img = ImageDevice.open(client, ImageRef.parse("bench/ours:v1"),
                    ImageOptions.defaults().withCacheBytes(64L * MIB))) {
                pull = readAll(img);
            }
            Path layout = tmp.resolve("layout");
            long skopeoPull = skopeo(skopeo, "copy", "--src-tls-verify=false", "docker://" + host + "/bench/ours:v1",
                    "oci:" + layout + ":v1");
            // pushes into registries that have none of the blobs (no mount or reuse possible)
            long skopeoPush = skopeo(skopeo, "copy", "--dest-tls-verify=false", "oci:" + layout + ":v1",
                    "docker://127.0.0.1:" + fresh.port() + "/bench/skopeo:v1");
            RegistryClient freshClient = RegistryClient.builder(fresh2.uri()).useDockerConfig(false).build();
            t0 = System.nanoTime();
            OciImages.freeze(src, freshClient, ImageRef.parse("bench/ours2:v1"), FreezeOptions.defaults().withParallelism(1));
            long freezeSerial = System.nanoTime() - t0;

            table.append(row("volumes freeze -> empty registry (4 parallel uploads, from memory)", size, freeze));
            table.append(row("volumes freeze -> empty registry (1 upload at a time, from memory)", size, freezeSerial));
            table.append(row("skopeo copy oci: layout -> empty registry (push, from disk)", size, skopeoPush));
            table.append(row("volumes ImageDevice sequential read, cold (pull into memory)", size, pull));
            table.append(row("skopeo copy registry -> oci: layout (pull to disk)", size, skopeoPull));
            table.append("\nratios: freeze/skopeo push time = ").append(String.format("%.2f", (double) freeze / skopeoPush))
                    .append(", pull/skopeo pull time = ").append(String.format("%.2f", (double) pull / skopeoPull)).append('\n');

            // dedup ratios
            MemoryDevice sparse = MemoryDevice.create("sparse", 1L << 30);
            for (int i = 0; i < 16; i++) {
                rnd.nextBytes(chunk);
                sparse.write(ByteBuffer.wrap(chunk), (long) i * 15 * chunk.length);
            }
            FreezeResult s = OciImages.freeze(sparse, client, ImageRef.parse("bench/sparse:v1"), FreezeOptions.defaults());
            MemoryDevice rep = MemoryDevice.create("repetitive", 256L * MIB);
            byte[][] few = new byte[4][4 * MIB];
            for (byte[] f : few) {
                rnd.nextBytes(f);
            }
            for (int i = 0; i < 64; i++) {
                rep.write(ByteBuffer.wrap(few[i % 4]), (long) i * 4 * MIB);
            }
            FreezeResult r = OciImages.freeze(rep, client, ImageRef.parse("bench/rep:v1"), FreezeOptions.defaults());
            table.append("\n| image | logical | data chunks | blobs stored | bytes stored | logical/stored |\n|---|---|---|---|---|---|\n");
            table.append(dedup("sparse: 1 GiB, 64 MiB of data", 1L << 30, s));
            table.append(dedup("repetitive: 256 MiB, 4 distinct 4 MiB chunks", 256L * MIB, r));
            Files.createDirectories(Path.of("target"));
            Files.writeString(Path.of("target", "oci-bench.md"), table.toString());
            System.out.println(table);
        }
    }

    private static String row(String what, long bytes, long nanos) {
        return String.format("| %s | %d | %.0f |%n", what, nanos / 1_000_000, mbps(bytes, nanos));
    }

    private static String dedup(String what, long logical, FreezeResult r) {
        long stored = ImageFormat.layers(r.config()).stream().mapToLong(Descriptor::size).sum();
        return String.format("| %s | %d | %d | %d | %d | %.1f |%n", what, logical, r.dataChunks(), r.distinctBlobs(), stored,
                (double) logical / stored);
    }
}

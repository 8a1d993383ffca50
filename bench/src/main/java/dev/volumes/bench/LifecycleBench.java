package dev.volumes.bench;

import dev.volumes.device.Device;
import dev.volumes.pool.ChangedRange;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.pool.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;

/**
 * Pool lifecycle benchmark (a plain program, not JMH: each measurement is one long operation on
 * gigabytes, run a few times and reported as the median). Run by {@code bench/run lifecycle}.
 *
 * <ol>
 *   <li><b>Raw export/import vs {@code cp --sparse=always}</b>: a volume of {@code rawMiB} with
 *       75% of its 1 MiB chunks written (random bytes) and 25% holes. Export it to a raw file
 *       (sparse, fsynced), copy that raw file with {@code cp --sparse=always} followed by
 *       {@code sync FILE} (the same durability), and import the raw file as a new volume (one
 *       commit, fsynced). Throughput is logical bytes per second; ratios are against cp.</li>
 *   <li><b>Diff vs a full compare</b>: a volume of {@code diffGiB} fully written (4 KiB blocks),
 *       snapshot, rewrite 1% of its blocks at random, then time {@link Pool#diff} against reading
 *       both volumes and comparing them byte for byte (what a backup without diff would do), and
 *       check both find the same blocks.</li>
 * </ol>
 * One untimed export and import run first (JIT warm-up), and each timed arm starts with its source
 * file read once ({@code cat > /dev/null}) so every arm reads from the page cache. Usage:
 * {@code LifecycleBench DIR [rawMiB=1024] [diffGiB=10] [repeats=3]}; 0 skips a part.
 */
public final class LifecycleBench {

    private static final int BS = 4096;
    private static final int MIB = 1 << 20;

    private LifecycleBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "bench/target/lifecycle");
        long rawMiB = args.length > 1 ? Long.parseLong(args[1]) : 1024;
        long diffGiB = args.length > 2 ? Long.parseLong(args[2]) : 10;
        int repeats = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        Files.createDirectories(dir);
        System.out.println("## bench/run lifecycle (" + java.time.Instant.now() + ", "
                + Runtime.getRuntime().availableProcessors() + " CPUs, Java " + Runtime.version() + ")");
        System.out.println();
        if (rawMiB > 0) {
            raw(dir, rawMiB, repeats);
            System.out.println();
        }
        if (diffGiB > 0) {
            diff(dir, diffGiB, repeats);
        }
    }

    private static void raw(Path dir, long rawMiB, int repeats) throws Exception {
        Path poolFile = dir.resolve("raw.pool");
        Files.deleteIfExists(poolFile);
        long logical = rawMiB * MIB;
        Random rnd = new Random(1);
        byte[] chunk = new byte[MIB];
        long[] exportNs = new long[repeats];
        long[] cpNs = new long[repeats];
        long[] importNs = new long[repeats];
        try (Pool pool = Pool.create(poolFile, 3 * logical + (256L << 20), PoolOptions.defaults())) {
            pool.createVolume("src", logical);
            try (Device d = pool.openVolume("src")) {
                for (long off = 0; off < logical; off += MIB) {
                    if (rnd.nextInt(4) == 0) {
                        continue; // a 1 MiB hole
                    }
                    rnd.nextBytes(chunk);
                    d.write(ByteBuffer.wrap(chunk), off);
                }
            }
            pool.sync();
            long mapped = pool.usage("src").mappedBytes();
            Path first = dir.resolve("export-0.raw");
            Path warm = dir.resolve("warm.raw");
            Files.deleteIfExists(warm);
            pool.exportRaw("src", warm, Progress.NONE); // JIT warm-up, not timed
            pool.importRaw(warm, "warm", Progress.NONE);
            pool.delete("warm");
            Files.deleteIfExists(warm);
            for (int r = 0; r < repeats; r++) {
                Path out = dir.resolve("export-" + r + ".raw");
                Files.deleteIfExists(out);
                warm(poolFile); // every arm starts from a page-cached source
                long t0 = System.nanoTime();
                pool.exportRaw("src", out, Progress.NONE);
                exportNs[r] = System.nanoTime() - t0;

                Path copy = dir.resolve("cp-" + r + ".raw");
                Files.deleteIfExists(copy);
                warm(first);
                t0 = System.nanoTime();
                run("cp", "--sparse=always", first.toString(), copy.toString());
                run("sync", copy.toString());
                cpNs[r] = System.nanoTime() - t0;

                warm(first);
                t0 = System.nanoTime();
                pool.importRaw(first, "imp" + r, Progress.NONE);
                importNs[r] = System.nanoTime() - t0;
                pool.delete("imp" + r);
                pool.sync();
                pool.sync();
                Files.deleteIfExists(copy);
                if (r > 0) {
                    Files.deleteIfExists(out);
                }
            }
            long exportMed = median(exportNs);
            long cpMed = median(cpNs);
            long importMed = median(importNs);
            System.out.println("### Raw export/import vs cp --sparse=always (" + rawMiB + " MiB volume, " + mapped / MIB
                    + " MiB mapped, median of " + repeats + ")");
            System.out.println();
            System.out.println("| operation | time (ms) | logical MiB/s | vs cp |");
            System.out.println("|---|---:|---:|---:|");
            row("pool.exportRaw (sparse file, fsync)", exportMed, logical, cpMed);
            row("cp --sparse=always + sync FILE", cpMed, logical, cpMed);
            row("pool.importRaw (one commit, fsync)", importMed, logical, cpMed);
            System.out.println();
            System.out.println("runs (ms): export " + ms(exportNs) + ", cp " + ms(cpNs) + ", import " + ms(importNs));
            Files.deleteIfExists(first);
        } finally {
            Files.deleteIfExists(poolFile);
        }
    }

    /** Reads a file once (holes are cheap) so the timed arm reads from the page cache. */
    private static void warm(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("cat", file.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
            throw new IOException("cat " + file + " failed");
        }
    }

    private static void row(String what, long ns, long logical, long cpNs) {
        System.out.printf("| %s | %.0f | %.0f | %.2f |%n", what, ns / 1e6, logical / (double) MIB / (ns / 1e9),
                (double) cpNs / ns);
    }

    private static void diff(Path dir, long gib, int repeats) throws Exception {
        Path poolFile = dir.resolve("diff.pool");
        Files.deleteIfExists(poolFile);
        long size = gib << 30;
        long blocks = size / BS;
        Random rnd = new Random(2);
        byte[] chunk = new byte[MIB];
        rnd.nextBytes(chunk);
        try (Pool pool = Pool.create(poolFile, size + size / 20 + (512L << 20), PoolOptions.defaults())) {
            pool.createVolume("big", size);
            long t0 = System.nanoTime();
            try (Device d = pool.openVolume("big")) {
                ByteBuffer b = ByteBuffer.wrap(chunk);
                for (long off = 0; off < size; off += MIB) {
                    b.putLong(0, off);
                    d.write(b.clear(), off);
                }
            }
            pool.sync();
            long fillNs = System.nanoTime() - t0;
            pool.snapshot("big", "big@0");
            BitSet changed = new BitSet();
            int n = (int) (blocks / 100);
            byte[] block = new byte[BS];
            try (Device d = pool.openVolume("big")) {
                while (changed.cardinality() < n) {
                    int lb = rnd.nextInt((int) blocks);
                    if (changed.get(lb)) {
                        continue;
                    }
                    changed.set(lb);
                    rnd.nextBytes(block);
                    d.write(ByteBuffer.wrap(block), (long) lb * BS);
                }
            }
            pool.sync();
            long[] diffNs = new long[repeats];
            List<ChangedRange> ranges = List.of();
            for (int r = 0; r < repeats; r++) {
                t0 = System.nanoTime();
                ranges = pool.diff("big@0", "big");
                diffNs[r] = System.nanoTime() - t0;
            }
            long reported = ranges.stream().mapToLong(ChangedRange::length).sum() / BS;
            t0 = System.nanoTime();
            long differing = fullCompare(pool, "big@0", "big", size, changed);
            long compareNs = System.nanoTime() - t0;
            System.out.println("### Diff of a " + gib + " GiB fully mapped volume, 1% of its 4 KiB blocks rewritten ("
                    + n + " blocks)");
            System.out.println();
            System.out.println("| method | time (ms) | blocks found |");
            System.out.println("|---|---:|---:|");
            System.out.printf("| pool.diff (median of %d) | %.1f | %d |%n", repeats, median(diffNs) / 1e6, reported);
            System.out.printf("| full compare (read both, compare) | %.0f | %d |%n", compareNs / 1e6, differing);
            System.out.println();
            System.out.printf("diff runs (ms): %s; speed-up %.0fx; filling the volume took %.1f s%n", ms(diffNs),
                    compareNs / (double) median(diffNs), fillNs / 1e9);
            if (reported != n || differing != n) {
                throw new IllegalStateException("diff found " + reported + " blocks, compare " + differing + ", changed "
                        + n);
            }
        } finally {
            Files.deleteIfExists(poolFile);
        }
    }

    private static long fullCompare(Pool pool, String a, String b, long size, BitSet changed) throws IOException {
        long differing = 0;
        try (Device x = pool.openVolume(a); Device y = pool.openVolume(b)) {
            ByteBuffer bx = ByteBuffer.allocateDirect(MIB);
            ByteBuffer by = ByteBuffer.allocateDirect(MIB);
            for (long off = 0; off < size; off += MIB) {
                x.read(bx.clear(), off);
                y.read(by.clear(), off);
                for (int i = 0; i < MIB; i += BS) {
                    if (bx.slice(i, BS).mismatch(by.slice(i, BS)) >= 0) {
                        differing++;
                    }
                }
            }
        }
        return differing;
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed with " + p.exitValue());
        }
    }

    private static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String ms(long[] v) {
        List<String> out = new ArrayList<>();
        for (long x : v) {
            out.add(String.format("%.0f", x / 1e6));
        }
        return String.join(", ", out);
    }
}

package dev.volumes.bench;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A pool volume against a raw {@link FileDevice} in the same directory, one thread, no sync
 * inside the measured operations (the page cache absorbs the writes, so this measures the pool's
 * own overhead and its write amplification, not the disk). {@code config} is {@code raw} or
 * {@code pool-<block size>} (the block-size sweep). Operations:
 * <ul>
 *   <li>{@code sequentialWrite1MiB}: 1 MiB writes walking a 256 MiB volume (allocating on the
 *       first pass, then in place);</li>
 *   <li>{@code randomOverwrite4KiB}: 4 KiB writes into fully allocated, exclusively owned blocks;</li>
 *   <li>{@code randomRead4KiB}: 4 KiB reads of allocated blocks;</li>
 *   <li>{@code randomAllocatingWrite4KiB}: 4 KiB writes into holes of a fresh volume (batches of
 *       2,000 per measured shot; a new volume every iteration);</li>
 *   <li>{@code randomCowWrite4KiB}: 4 KiB writes into a volume snapshotted just before the
 *       iteration (batches of 2,000, mostly first touches, so mostly copies).</li>
 * </ul>
 * For raw, the allocating and copy-on-write variants are plain 4 KiB random writes.
 */
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PoolBench {

    private static final int MIB = 1 << 20;
    private static final int IO = 4096;
    private static final long VOLUME = 256L * MIB;
    private static final int BATCH = 2000;

    @Param({"raw", "pool-4096", "pool-16384", "pool-65536"})
    public String config;

    private Path dir;
    private Pool pool;
    private Device main;
    private Device thin;
    private int iteration;
    private final ByteBuffer mib = ByteBuffer.allocateDirect(MIB);
    private final ByteBuffer block = ByteBuffer.allocateDirect(IO);
    private final SplittableRandom random = new SplittableRandom(7);
    private long sequential;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("volumes-poolbench-");
        if (config.equals("raw")) {
            main = FileDevice.create(dir.resolve("raw.img"), VOLUME);
            thin = main;
        } else {
            int bs = Integer.parseInt(config.substring("pool-".length()));
            pool = Pool.create(dir.resolve("pool.img"), 8 * VOLUME, PoolOptions.builder().blockSize(bs).build());
            pool.createVolume("main", VOLUME);
            main = pool.openVolume("main");
        }
        for (long pos = 0; pos < VOLUME; pos += MIB) { // allocate everything once
            main.write(mib.clear(), pos);
        }
        main.sync();
    }

    /** Only the allocating benchmark uses it: a fresh thin volume every iteration. */
    @State(Scope.Benchmark)
    public static class Fresh {
        @Setup(Level.Iteration)
        public void newVolume(PoolBench b) throws IOException {
            b.iteration++;
            if (b.pool != null) {
                b.pool.sync();
                b.pool.createVolume("thin" + b.iteration, VOLUME);
                b.thin = b.pool.openVolume("thin" + b.iteration);
            }
        }
    }

    /** Only the copy-on-write benchmark uses it: a snapshot of main before every iteration. */
    @State(Scope.Benchmark)
    public static class Snapshotted {
        @Setup(Level.Iteration)
        public void snapshot(PoolBench b) throws IOException {
            b.iteration++;
            if (b.pool != null) {
                b.pool.sync();
                b.pool.snapshot("main", "main@" + b.iteration);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (pool != null) {
            pool.close();
        } else {
            main.close();
        }
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    private long randomBlock() {
        return random.nextLong(VOLUME / IO) * IO;
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void sequentialWrite1MiB() throws IOException {
        long at = sequential;
        sequential = (sequential + MIB) % VOLUME;
        main.write(mib.clear(), at);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void randomOverwrite4KiB() throws IOException {
        main.write(block.clear(), randomBlock());
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int randomRead4KiB() throws IOException {
        main.read(block.clear(), randomBlock());
        return block.get(0);
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    @Warmup(iterations = 2, batchSize = BATCH)
    @Measurement(iterations = 5, batchSize = BATCH)
    public void randomAllocatingWrite4KiB(Fresh fresh) throws IOException {
        thin.write(block.clear(), randomBlock());
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    @Warmup(iterations = 2, batchSize = BATCH)
    @Measurement(iterations = 5, batchSize = BATCH)
    public void randomCowWrite4KiB(Snapshotted snapshotted) throws IOException {
        main.write(block.clear(), randomBlock());
    }
}

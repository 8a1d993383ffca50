package dev.volumes.bench;

import dev.volumes.device.Device;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * Snapshot creation time against how much the source maps (1,000 vs 100,000 blocks of 4 KiB):
 * {@code snapshot} is the in-memory operation, {@code snapshotAndSync} adds the commit that makes
 * it durable. Both should not depend on {@code mappedBlocks} (target: ratio 100k/1k at most 2).
 * Each invocation adds a snapshot, so the catalog grows equally for both parameters.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 2, batchSize = 100)
@Measurement(iterations = 5, batchSize = 100)
public class SnapshotBench {

    @Param({"1000", "100000"})
    public int mappedBlocks;

    private Path dir;
    private Pool pool;
    private long n;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("volumes-snapbench-");
        pool = Pool.create(dir.resolve("pool.img"), 1L << 30, PoolOptions.builder().blockSize(4096).build());
        pool.createVolume("v", 512L << 20);
        try (Device v = pool.openVolume("v")) {
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
            for (long b = 0; b < mappedBlocks; b += 256) {
                int blocks = (int) Math.min(256, mappedBlocks - b);
                v.write(chunk.clear().limit(blocks * 4096), b * 4096);
            }
        }
        pool.sync();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        pool.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public Object snapshot() throws IOException {
        return pool.snapshot("v", "s" + n++);
    }

    @Benchmark
    public void snapshotAndSync() throws IOException {
        pool.snapshot("v", "t" + n++);
        pool.sync();
    }
}

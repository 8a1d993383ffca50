package dev.volumes.bench;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * FileDevice against a raw positional FileChannel on the same pre-allocated (fully written, not
 * sparse) file: 1 MiB sequential and 4 KiB random reads and writes, direct buffers, no sync. The
 * file is small enough to stay in the page cache, so the numbers show the wrapper's overhead
 * (bounds checks, read lock, loop), not the disk. {@code bench/run device} prints the
 * FileDevice/FileChannel ratio per operation.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class FileDeviceBench {

    private static final int MIB = 1 << 20;
    private static final int BLOCK = 4096;

    /** Which implementation the benchmark calls. */
    @Param({"FileDevice", "FileChannel"})
    public String impl;

    /** File size in bytes; a multiple of 1 MiB. */
    @Param({"268435456"})
    public long fileSize;

    private Path path;
    private Device device;
    private FileChannel channel;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        path = Files.createTempFile("volumes-bench-", ".img");
        try (FileChannel fill = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ByteBuffer chunk = ByteBuffer.allocateDirect(MIB);
            SplittableRandom rnd = new SplittableRandom(42);
            while (chunk.hasRemaining()) {
                chunk.put((byte) rnd.nextInt());
            }
            for (long pos = 0; pos < fileSize; pos += MIB) {
                chunk.clear();
                while (chunk.hasRemaining()) {
                    fill.write(chunk, pos + chunk.position());
                }
            }
            fill.force(true);
        }
        // Only one of the two is open at a time: a second descriptor's close would drop the lock.
        if (impl.equals("FileDevice")) {
            device = FileDevice.open(path);
        } else {
            channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (device != null) {
            device.close();
        }
        if (channel != null) {
            channel.close();
        }
        Files.deleteIfExists(path);
    }

    /** Per-thread buffers and positions, so threads never share a buffer. */
    @State(Scope.Thread)
    public static class Cursor {
        final ByteBuffer mib = ByteBuffer.allocateDirect(MIB);
        final ByteBuffer block = ByteBuffer.allocateDirect(BLOCK);
        final SplittableRandom random = new SplittableRandom(7);
        long sequential;

        long nextSequential(long size) {
            long at = sequential;
            sequential = (sequential + MIB) % size;
            return at;
        }

        long nextRandomBlock(long size) {
            return random.nextLong(size / BLOCK) * BLOCK;
        }
    }

    @Benchmark
    public int sequentialRead1MiB(Cursor c) throws IOException {
        c.mib.clear();
        read(c.mib, c.nextSequential(fileSize));
        return c.mib.get(0);
    }

    @Benchmark
    public void sequentialWrite1MiB(Cursor c) throws IOException {
        c.mib.clear();
        write(c.mib, c.nextSequential(fileSize));
    }

    @Benchmark
    public int randomRead4KiB(Cursor c) throws IOException {
        c.block.clear();
        read(c.block, c.nextRandomBlock(fileSize));
        return c.block.get(0);
    }

    @Benchmark
    public void randomWrite4KiB(Cursor c) throws IOException {
        c.block.clear();
        write(c.block, c.nextRandomBlock(fileSize));
    }

    private void read(ByteBuffer dst, long offset) throws IOException {
        if (device != null) {
            device.read(dst, offset);
            return;
        }
        long pos = offset;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, pos);
            if (n < 0) {
                throw new EOFException("end of file at " + pos);
            }
            pos += n;
        }
    }

    private void write(ByteBuffer src, long offset) throws IOException {
        if (device != null) {
            device.write(src, offset);
            return;
        }
        long pos = offset;
        while (src.hasRemaining()) {
            pos += channel.write(src, pos);
        }
    }
}

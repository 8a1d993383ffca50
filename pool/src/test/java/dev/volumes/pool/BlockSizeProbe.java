package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A rough side-by-side probe (not a benchmark and not a test) used to choose the default block
 * size: for each block size, 4 KiB random allocating writes, overwrites, copy-on-write writes
 * after a snapshot, reads, and 1 MiB sequential writes on a pool file, against the same
 * operations on a raw FileDevice in the same directory. Prints MiB/s and the ratio to raw.
 * Run: {@code java -cp <test-classes>:<classes>:<device classes> dev.volumes.pool.BlockSizeProbe DIR}.
 * JMH benchmarks belong in bench/ once that module exists.
 */
public final class BlockSizeProbe {

    private static final int IO = 4096;
    private static final long VOLUME = 256L << 20;
    private static final int OPS = 12_000;

    private BlockSizeProbe() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("java.io.tmpdir"));
        Path rawFile = dir.resolve("probe-raw.img");
        Files.deleteIfExists(rawFile);
        double raw4k;
        double rawSeq;
        double rawRead;
        try (FileDevice raw = FileDevice.create(rawFile, VOLUME)) {
            rawSeq = seq(raw);
            raw4k = random(raw, 1, true);
            rawRead = random(raw, 2, false);
        }
        Files.deleteIfExists(rawFile);
        System.out.printf("raw FileDevice: 4K random write %.1f MiB/s, 1M sequential %.1f MiB/s, 4K random read %.1f"
                + " MiB/s%n", raw4k, rawSeq, rawRead);
        System.out.println("block   alloc4K  overwr4K  cow4K   read4K  seq1M   (MiB/s; ratio to raw in brackets)");
        for (int bs : new int[] {4096, 16384, 65536, 262144}) {
            Path file = dir.resolve("probe-pool-" + bs + ".img");
            Files.deleteIfExists(file);
            try (Pool pool = Pool.create(file, 3 * VOLUME, PoolOptions.builder().blockSize(bs).build())) {
                pool.createVolume("a", VOLUME);
                pool.createVolume("s", VOLUME);
                Device a = pool.openVolume("a");
                double alloc = random(a, 3, true);
                pool.sync();
                double over = random(a, 3, true);
                pool.sync();
                pool.snapshot("a", "a@1");
                double cow = random(a, 4, true);
                pool.sync();
                double read = random(a, 5, false);
                Device s = pool.openVolume("s");
                double sq = seq(s);
                pool.sync();
                System.out.printf("%6d  %5.1f [%.2f] %5.1f [%.2f] %5.1f [%.2f] %5.1f [%.2f] %5.1f [%.2f]%n", bs, alloc,
                        alloc / raw4k, over, over / raw4k, cow, cow / raw4k, read, read / rawRead, sq, sq / rawSeq);
            }
            Files.deleteIfExists(file);
        }
    }

    private static double random(Device d, long seed, boolean write) throws IOException {
        Random rnd = new Random(seed);
        ByteBuffer buf = ByteBuffer.allocate(IO);
        long slots = VOLUME / IO / 4; // a quarter of the volume so overwrites hit allocated blocks
        long start = System.nanoTime();
        for (int i = 0; i < OPS; i++) {
            long off = (long) rnd.nextInt((int) slots) * IO;
            buf.clear();
            if (write) {
                buf.putLong(0, i);
                d.write(buf, off);
            } else {
                d.read(buf, off);
            }
        }
        if (write) {
            d.sync();
        }
        return mibPerSecond((long) OPS * IO, System.nanoTime() - start);
    }

    private static double seq(Device d) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        long start = System.nanoTime();
        long total = 128L << 20;
        for (long off = 0; off < total; off += buf.capacity()) {
            d.write(buf.clear(), off);
        }
        d.sync();
        return mibPerSecond(total, System.nanoTime() - start);
    }

    private static double mibPerSecond(long bytes, long nanos) {
        return bytes / (1024.0 * 1024.0) / (nanos / 1e9);
    }
}

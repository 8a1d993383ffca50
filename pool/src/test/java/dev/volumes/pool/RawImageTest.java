package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Raw export and import round trips with holes; an import that fails halfway leaves nothing. */
class RawImageTest {

    private static final int BS = 4096;

    /** Bytes the file system has allocated for a file (`stat` blocks of 512 bytes). */
    static long allocated(Path file) throws IOException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stat failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        String[] parts = out.split(" ");
        return Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
    }

    @Test
    void exportAndImportRoundTripKeepHolesAndStoreNoZeroBlocks(@TempDir Path dir) throws IOException {
        String test = "RawImageTest#exportAndImportRoundTripKeepHolesAndStoreNoZeroBlocks";
        Random rnd = Seeds.random(test);
        Pool pool = Pool.create(MemoryDevice.create("disk", 4096L * BS),
                PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        long size = 1000L * BS + 1234; // two map levels, a partial last block
        pool.createVolume("v", size);
        byte[] want = new byte[(int) size];
        int dataBlocks = 0;
        try (Device v = pool.openVolume("v")) {
            for (int i = 0; i < 40; i++) {
                int first = rnd.nextInt(990);
                int n = 1 + rnd.nextInt(8);
                byte[] data = new byte[n * BS];
                rnd.nextBytes(data);
                write(v, (long) first * BS, data);
                System.arraycopy(data, 0, want, first * BS, data.length);
            }
            write(v, 995L * BS, new byte[2 * BS]); // mapped but all zero: must stay a hole
            System.arraycopy(new byte[2 * BS], 0, want, 995 * BS, 2 * BS);
            byte[] tail = fill(1234, 7);
            write(v, 1000L * BS, tail);
            System.arraycopy(tail, 0, want, 1000 * BS, 1234);
        }
        for (int b = 0; b * (long) BS < size; b++) {
            int end = (int) Math.min(size, (b + 1L) * BS);
            boolean zero = true;
            for (int k = b * BS; k < end && zero; k++) {
                zero = want[k] == 0;
            }
            dataBlocks += zero ? 0 : 1;
        }
        pool.snapshot("v", "v@x");
        Path raw = dir.resolve("v.raw");
        List<long[]> updates = new ArrayList<>();
        pool.exportRaw("v@x", raw, (d, t) -> updates.add(new long[] {d, t}));
        assertThat(Files.size(raw)).isEqualTo(size);
        assertThat(Files.readAllBytes(raw)).isEqualTo(want);
        assertThat(allocated(raw)).as("holes stay holes (slack for file-system metadata)")
                .isLessThanOrEqualTo((dataBlocks + 16L) * BS).isLessThan(size / 2);
        assertThat(updates.getLast()).containsExactly(size, size);
        assertThatThrownBy(() -> pool.exportRaw("v", raw, Progress.NONE)).isInstanceOf(FileAlreadyExistsException.class);

        long usedBefore = pool.info().usedBlocks();
        VolumeInfo imported = pool.importRaw(raw, "w", Progress.NONE);
        assertThat(imported.size()).isEqualTo(size);
        assertThat(imported.allocatedBytes()).as("no zero block stored").isEqualTo((long) dataBlocks * BS);
        assertThat(pool.info().usedBlocks() - usedBefore).isLessThan(dataBlocks + 10L);
        try (Device w = pool.openVolume("w")) {
            assertThat(read(w, 0, (int) size)).isEqualTo(want);
        }
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(pool.backing());
        assertThat(read(reopened.openVolume("w"), 0, (int) size)).isEqualTo(want);
        assertThatThrownBy(() -> pool.importRaw(raw, "w", Progress.NONE)).isInstanceOf(VolumeExistsException.class);
    }

    @Test
    void anImportThatRunsOutOfSpaceHalfwayLeavesNoVolumeAndGivesTheSpaceBack(@TempDir Path dir) throws IOException {
        Path raw = dir.resolve("big.raw");
        byte[] content = new byte[400 * BS];
        new Random(42).nextBytes(content);
        Files.write(raw, content);
        MemoryDevice disk = MemoryDevice.create("disk", 256 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("keep", 8 * BS);
        write(pool.openVolume("keep"), 0, fill(8 * BS, 3));
        pool.sync();
        pool.sync();
        long free = pool.info().freeBlocks();
        assertThatThrownBy(() -> pool.importRaw(raw, "big", Progress.NONE)).isInstanceOf(NoSpaceException.class);
        assertThat(pool.list()).extracting(VolumeInfo::name).containsExactly("keep");
        assertThat(pool.check().problems()).isEmpty();
        pool.sync();
        pool.sync();
        assertThat(pool.info().freeBlocks()).isEqualTo(free);
        assertThat(Pool.open(disk).list()).extracting(VolumeInfo::name).containsExactly("keep");
        // a small file still imports afterwards
        Path small = dir.resolve("small.raw");
        Files.write(small, java.util.Arrays.copyOf(content, 20 * BS));
        pool.importRaw(small, "small", Progress.NONE);
        assertThat(read(pool.openVolume("small"), 0, 20 * BS)).isEqualTo(java.util.Arrays.copyOf(content, 20 * BS));
        ByteBuffer unused = ByteBuffer.allocate(0);
        assertThat(unused.remaining()).isZero();
    }
}

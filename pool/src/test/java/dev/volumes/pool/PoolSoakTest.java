package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.read;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Soak: cycles of create / write / discard / snapshot / clone / delete / sync on a pool file.
 * Every 100 cycles, and at the end, after two syncs (so every free is released): the content of
 * every volume matches a model, check is clean, the pool's used blocks equal exactly the live
 * data and metadata (ring + map nodes + catalog + data blocks that check walked: no leak, no
 * unbounded growth), and the file's allocated size on disk (`stat` blocks) tracks the used size
 * because freed blocks are punched out. Deleting everything brings both back to nearly nothing.
 */
class PoolSoakTest {

    private static final int BS = 4096;

    @Test
    void thousandCyclesEndWithUsedSpaceEqualToLiveDataAndTheFileTrackingIt(@TempDir Path dir) throws IOException {
        String test = "PoolSoakTest#thousandCyclesEndWithUsedSpaceEqualToLiveDataAndTheFileTrackingIt";
        Random rnd = Seeds.random(test);
        int cycles = Seeds.scaled(1000);
        Path file = dir.resolve("soak.pool");
        Map<String, byte[]> model = new LinkedHashMap<>();
        Map<String, Boolean> readOnly = new LinkedHashMap<>();
        long maxAllocated = 0;
        int names = 0;
        try (Pool pool = Pool.create(file, 64L << 20, PoolOptions.builder().blockSize(BS).build())) {
            for (int cycle = 1; cycle <= cycles; cycle++) {
                try {
                    List<String> all = new ArrayList<>(model.keySet());
                    List<String> writable = all.stream().filter(n -> !readOnly.get(n)).toList();
                    int op = rnd.nextInt(100);
                    if (writable.isEmpty() || op < 12) {
                        String name = "v" + names++;
                        int size = (16 + rnd.nextInt(240)) * BS;
                        pool.createVolume(name, size);
                        model.put(name, new byte[size]);
                        readOnly.put(name, false);
                    } else if (op < 55) {
                        String name = writable.get(rnd.nextInt(writable.size()));
                        byte[] content = model.get(name);
                        int length = BS * (1 + rnd.nextInt(16)) - rnd.nextInt(BS);
                        length = Math.min(length, content.length);
                        int offset = rnd.nextInt(content.length - length + 1);
                        byte[] data = new byte[length];
                        rnd.nextBytes(data);
                        try (Device d = pool.openVolume(name)) {
                            d.write(ByteBuffer.wrap(data), offset);
                        }
                        System.arraycopy(data, 0, content, offset, length);
                    } else if (op < 62) {
                        String name = writable.get(rnd.nextInt(writable.size()));
                        byte[] content = model.get(name);
                        int length = rnd.nextInt(content.length);
                        int offset = rnd.nextInt(content.length - length + 1);
                        try (Device d = pool.openVolume(name)) {
                            d.discard(offset, length);
                        }
                        Arrays.fill(content, offset, offset + length, (byte) 0);
                    } else if (op < 74) {
                        String source = all.get(rnd.nextInt(all.size()));
                        boolean snapshot = rnd.nextBoolean();
                        String name = "b" + names++;
                        if (snapshot) {
                            pool.snapshot(source, name);
                        } else {
                            pool.clone(source, name);
                        }
                        model.put(name, model.get(source).clone());
                        readOnly.put(name, snapshot);
                    } else if (op < 90 || all.size() > 12) {
                        if (all.size() > 1) {
                            String name = all.get(rnd.nextInt(all.size()));
                            pool.delete(name);
                            model.remove(name);
                            readOnly.remove(name);
                        }
                    } else {
                        pool.sync();
                    }
                    if (cycle % 100 == 0 || cycle == cycles) {
                        maxAllocated = Math.max(maxAllocated, verify(pool, file, model));
                    }
                } catch (AssertionError | IOException | RuntimeException e) {
                    throw new AssertionError("cycle " + cycle + ": " + e + "\n" + Seeds.reproduceWith(test), e);
                }
            }
            for (String name : new ArrayList<>(model.keySet())) {
                pool.delete(name);
            }
            model.clear();
            verify(pool, file, model);
            PoolInfo empty = pool.info();
            long ring = Superblock.firstDataBlock(BS);
            assertThat(empty.usedBlocks()).as("only the ring and one catalog block").isEqualTo(ring + 1);
            assertThat(RawImageTest.allocated(file)).isLessThanOrEqualTo((ring + 1) * BS + (256 << 10));
            System.out.println("soak: " + cycles + " cycles, largest allocated file size " + maxAllocated
                    + " bytes, after deleting everything " + RawImageTest.allocated(file) + " bytes");
        }
    }

    /** Returns the file's allocated bytes. */
    private static long verify(Pool pool, Path file, Map<String, byte[]> model) throws IOException {
        pool.sync();
        pool.sync();
        for (Map.Entry<String, byte[]> en : model.entrySet()) {
            try (Device d = pool.openVolume(en.getKey())) {
                assertThat(read(d, 0, en.getValue().length)).as("content of " + en.getKey()).isEqualTo(en.getValue());
            }
        }
        assertThat(pool.list()).extracting(VolumeInfo::name).containsExactlyElementsOf(model.keySet());
        CheckReport report = pool.check();
        assertThat(report.problems()).isEmpty();
        PoolInfo info = pool.info();
        long live = Superblock.firstDataBlock(BS) + report.metadataBlocks() + report.dataBlocks();
        assertThat(info.usedBlocks()).as("used blocks = ring + live metadata + live data").isEqualTo(live);
        long allocated = RawImageTest.allocated(file);
        assertThat(allocated).as("allocated bytes of the pool file vs used " + info.usedBytes())
                .isBetween(info.usedBytes() - (64L << 10), info.usedBytes() + (256L << 10));
        return allocated;
    }
}

package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Model-based randomized test: random workloads (unaligned writes, FUA writes, write-zeroes,
 * discards, syncs, resizes, a power cut at a random call) against an independent model of what
 * the disk model allows, then a crash, then a check of every sector and of the size:
 * <ul>
 *   <li>a sector with no pending write since its durable point holds exactly its durable image
 *       (synced and FUA data are never lost);</li>
 *   <li>every other sector holds its durable image or the image it had right after one of its
 *       pending writes (nothing is invented);</li>
 *   <li>the size is the durable size or one set by a pending resize.</li>
 * </ul>
 * Runs {@code Seeds.scaled(2000)} crashes; failures print the seed and the reproduce line.
 */
class CrashSimulatorModelTest {

    private static final String TEST = "CrashSimulatorModelTest#randomWorkloadsCrashIntoAllowedStates";

    @Test
    void randomWorkloadsCrashIntoAllowedStates() throws IOException {
        Random random = Seeds.random(TEST);
        int crashes = Seeds.scaled(2000);
        long lost = 0;
        long kept = 0;
        long torn = 0;
        for (int i = 0; i < crashes; i++) {
            long seed = random.nextLong();
            CrashReport report = runOne(seed);
            lost += report.pendingWrites() - report.keptWrites();
            kept += report.keptWrites();
            torn += report.tornWrites();
        }
        System.out.printf("%d crashes: %d pending writes kept, %d lost, %d torn%n", crashes, kept, lost, torn);
        assertThat(lost).isPositive();
        assertThat(kept).isPositive();
        assertThat(torn).isPositive();
    }

    /** One workload and crash, all randomness from {@code seed}. */
    private static CrashReport runOne(long seed) throws IOException {
        Random r = new Random(seed);
        int sectorSize = r.nextInt(4) == 0 ? 4096 : 512;
        CrashSimulator.Options options = new CrashSimulator.Options(
                switch (r.nextInt(4)) {
                    case 0 -> 0.0;
                    case 1 -> 1.0;
                    default -> r.nextDouble();
                },
                r.nextDouble(), r.nextBoolean(), sectorSize);
        long size = (long) (1 + r.nextInt(24)) * sectorSize + (r.nextInt(3) == 0 ? r.nextInt(sectorSize) : 0);
        MemoryDevice disk = MemoryDevice.create("model-disk", size);
        Model model = new Model(sectorSize, size);
        CrashSimulator sim = CrashSimulator.wrap(disk, seed, options);
        int ops = 1 + r.nextInt(40);
        if (r.nextBoolean()) {
            sim.armPowerCut(1 + r.nextInt(ops));
        }
        String where = sim + "\n" + Seeds.reproduceWith(TEST);
        try {
            for (int op = 0; op < ops; op++) {
                step(r, sim, model);
            }
            assertThat(readAll(sim, model.size)).as("running view, %s", where).isEqualTo(model.running(model.size));
        } catch (IOException e) {
            if (!e.getMessage().startsWith("simulated power loss")) {
                throw e;
            }
        }
        CrashReport report = sim.crash();
        where = report + " after " + ops + " planned calls, " + sim + "\n" + Seeds.reproduceWith(TEST);
        long finalSize = disk.size();
        if (!model.allowedSizes.contains(finalSize)) {
            fail("size " + finalSize + " not in " + model.allowedSizes + ", " + where);
        }
        byte[] content = readAll(disk, finalSize);
        for (int s = 0; s * (long) sectorSize < finalSize; s++) {
            int from = s * sectorSize;
            int n = (int) Math.min(sectorSize, finalSize - from);
            byte[] got = Arrays.copyOfRange(content, from, from + n);
            if (!model.allowed(s, got)) {
                fail("sector " + s + " holds data the model does not allow (pending images: "
                        + model.candidates.get(s).size() + "), " + where);
            }
        }
        return report;
    }

    private static void step(Random r, CrashSimulator sim, Model model) throws IOException {
        long size = model.size;
        int kind = r.nextInt(20);
        if (kind < 2) {
            sim.sync();
            model.sync();
            return;
        }
        if (kind == 2 && size > 0) {
            long newSize = Math.max(0, size + r.nextInt(model.sector * 4) - model.sector * 2L);
            sim.resize(newSize);
            model.resize(newSize);
            return;
        }
        if (size == 0) {
            return;
        }
        long offset = (long) (r.nextDouble() * size);
        if (r.nextInt(3) == 0) {
            offset -= offset % model.sector;
        }
        int length = (int) Math.min(size - offset, 1 + r.nextInt(model.sector * 3));
        if (kind < 12) {
            byte[] data = new byte[length];
            r.nextBytes(data);
            boolean fua = r.nextInt(6) == 0;
            sim.write(ByteBuffer.wrap(data), offset, fua ? WriteFlag.FUA : WriteFlag.NONE);
            model.write(offset, data, fua);
        } else if (kind < 16) {
            sim.writeZeroes(offset, length, r.nextBoolean());
            model.write(offset, new byte[length], false);
        } else {
            sim.discard(offset, length);    // MemoryDevice reads zeros after discard
            model.write(offset, new byte[length], false);
        }
    }

    private static byte[] readAll(dev.volumes.device.Device d, long size) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) size);
        d.read(b, 0);
        return b.array();
    }

    /** What the disk model allows, tracked independently of the simulator's implementation. */
    private static final class Model {
        final int sector;
        final int capacitySectors = 128;
        final byte[] running;
        final List<byte[]> durable = new ArrayList<>();
        final List<List<byte[]>> candidates = new ArrayList<>();
        final Set<Long> allowedSizes = new HashSet<>();
        long size;

        Model(int sector, long size) {
            this.sector = sector;
            this.size = size;
            this.running = new byte[capacitySectors * sector];
            for (int s = 0; s < capacitySectors; s++) {
                durable.add(new byte[sector]);
                candidates.add(new ArrayList<>());
            }
            allowedSizes.add(size);
        }

        void write(long offset, byte[] data, boolean fua) {
            System.arraycopy(data, 0, running, (int) offset, data.length);
            touched(offset, data.length, fua);
        }

        void sync() {
            for (int s = 0; s < capacitySectors; s++) {
                durable.set(s, image(s));
                candidates.get(s).clear();
            }
            allowedSizes.clear();
            allowedSizes.add(size);
        }

        void resize(long newSize) {
            if (newSize < size) {
                Arrays.fill(running, (int) newSize, (int) size, (byte) 0);
                touched(newSize, size - newSize, false);
            }
            size = newSize;
            allowedSizes.add(newSize);
        }

        private void touched(long offset, long length, boolean fua) {
            if (length == 0) {
                return;
            }
            for (long s = offset / sector; s * sector < offset + length; s++) {
                if (fua) {
                    durable.set((int) s, image((int) s));
                    candidates.get((int) s).clear();
                } else {
                    candidates.get((int) s).add(image((int) s));
                }
            }
        }

        boolean allowed(int s, byte[] got) {
            if (prefixEquals(durable.get(s), got)) {
                return true;
            }
            for (byte[] c : candidates.get(s)) {
                if (prefixEquals(c, got)) {
                    return true;
                }
            }
            return false;
        }

        byte[] running(long length) {
            return Arrays.copyOf(running, (int) length);
        }

        private byte[] image(int s) {
            return Arrays.copyOfRange(running, s * sector, (s + 1) * sector);
        }

        private static boolean prefixEquals(byte[] image, byte[] got) {
            return Arrays.equals(image, 0, got.length, got, 0, got.length);
        }
    }
}

package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.read;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link Pool#diff} against a brute-force byte comparison, randomized and seeded. */
class PoolDiffTest {

    @Test
    void diffCoversEveryChangedByteAndOnlyBlocksThatWereTouched() throws IOException {
        String test = "PoolDiffTest#diffCoversEveryChangedByteAndOnlyBlocksThatWereTouched";
        long master = Seeds.forTest(test);
        int rounds = Seeds.scaled(12);
        for (int round = 0; round < rounds; round++) {
            long seed = master + round;
            try {
                oneRound(new Random(seed), round % 2 == 0 ? 4096 : 16384);
            } catch (AssertionError | IOException | RuntimeException e) {
                throw new AssertionError("round " + round + " (seed " + seed + "): " + e + "\n"
                        + Seeds.reproduceWith(test), e);
            }
        }
    }

    private static void oneRound(Random rnd, int bs) throws IOException {
        Pool pool = Pool.create(MemoryDevice.create("disk", 8L << 20),
                PoolOptions.builder().blockSize(bs).reserve(16L * bs).build());
        int blocks = bs == 4096 ? 700 + rnd.nextInt(300) : 60 + rnd.nextInt(60); // 4 KiB: two map levels
        long size = (long) blocks * bs;
        pool.createVolume("v", size);
        Device v = pool.openVolume("v");
        mutate(v, rnd, bs, blocks, 40, new BitSet());
        pool.snapshot("v", "s0");
        BitSet touched = new BitSet();
        mutate(v, rnd, bs, blocks, 1 + rnd.nextInt(30), touched);
        boolean grew = rnd.nextBoolean();
        if (grew) {
            int more = bs == 4096 ? 400 : 20;
            v.resize(size + (long) more * bs); // 4 KiB: may add a map level
            touched.set(blocks - 1);
            mutate(v, rnd, bs, blocks + more, 5, touched);
        }
        pool.snapshot("v", "s1");
        pool.clone("s0", "c");
        BitSet cTouched = new BitSet();
        mutate(pool.openVolume("c"), rnd, bs, blocks, 10, cTouched);

        checkAgainstBruteForce(pool, "s0", "s1", bs, touched);
        checkAgainstBruteForce(pool, "s0", "v", bs, touched);
        checkAgainstBruteForce(pool, "s0", "c", bs, cTouched);
        BitSet both = (BitSet) touched.clone();
        both.or(cTouched);
        checkAgainstBruteForce(pool, "c", "s1", bs, both); // siblings of one lineage
        assertThat(pool.diff("s1", "s1")).isEmpty();

        pool.delete("s0"); // lineage stays readable through the deleted origin's id
        checkAgainstBruteForce(pool, "c", "s1", bs, both);
        pool.createVolume("other", size);
        assertThatThrownBy(() -> pool.diff("other", "s1")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'other'").hasMessageContaining("'s1'");
    }

    /** Random writes, discards and zero-writes; records every block they touch. */
    private static void mutate(Device d, Random rnd, int bs, int blocks, int ops, BitSet touched) throws IOException {
        for (int i = 0; i < ops; i++) {
            int first = rnd.nextInt(blocks);
            int n = 1 + rnd.nextInt(Math.min(8, blocks - first));
            int kind = rnd.nextInt(10);
            if (kind < 7) {
                byte[] data = new byte[n * bs - rnd.nextInt(bs / 2)];
                rnd.nextBytes(data);
                d.write(ByteBuffer.wrap(data), (long) first * bs);
            } else if (kind < 9) {
                d.discard((long) first * bs, (long) n * bs);
            } else {
                d.writeZeroes((long) first * bs, (long) n * bs, false);
            }
            touched.set(first, first + n);
        }
    }

    private static void checkAgainstBruteForce(Pool pool, String older, String newer, int bs, BitSet touched)
            throws IOException {
        List<ChangedRange> diff = pool.diff(older, newer);
        for (int i = 1; i < diff.size(); i++) {
            assertThat(diff.get(i).offset()).as("sorted and merged").isGreaterThan(diff.get(i - 1).end());
        }
        Device a = pool.openVolume(older);
        Device b = pool.openVolume(newer);
        long size = Math.max(a.size(), b.size());
        byte[] x = padded(a, size);
        byte[] y = padded(b, size);
        BitSet reported = new BitSet();
        for (ChangedRange r : diff) {
            assertThat(r.end()).isLessThanOrEqualTo(size);
            reported.set((int) (r.offset() / bs), (int) ((r.end() + bs - 1) / bs));
        }
        for (int block = 0; (long) block * bs < size; block++) {
            int from = block * bs;
            int to = (int) Math.min(size, from + (long) bs);
            boolean differs = !java.util.Arrays.equals(x, from, to, y, from, to);
            if (differs) {
                assertThat(reported.get(block)).as(older + " vs " + newer + ": block " + block + " differs").isTrue();
            }
            if (reported.get(block)) {
                assertThat(touched.get(block)).as(older + " vs " + newer + ": block " + block
                        + " reported but never touched").isTrue();
            }
        }
        a.close();
        b.close();
    }

    private static byte[] padded(Device d, long size) throws IOException {
        byte[] out = new byte[(int) size];
        byte[] have = read(d, 0, (int) d.size());
        System.arraycopy(have, 0, out, 0, have.length);
        return out;
    }
}

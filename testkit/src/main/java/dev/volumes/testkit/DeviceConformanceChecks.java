package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.opentest4j.TestAbortedException;

/**
 * The checks behind {@link DeviceConformanceTest}: reading and writing through buffers of every
 * kind (heap, direct, with a position and limit inside a larger buffer), comparing with a
 * {@link SparseModel}, and validating allocation maps.
 */
abstract class DeviceConformanceChecks {

    private static final long[] BOUNDARIES = {512, 4096, 65536, 1 << 20, 2 << 20, 1L << 31, 1L << 32};

    /** "Class#method" of the running test, for the reproduce line. */
    abstract String testName();

    @FunctionalInterface
    interface SeededBody {
        void run(Random rnd) throws Exception;
    }

    /** Runs {@code body} with the test's seeded Random; failures carry the reproduce line. */
    final void withSeed(SeededBody body) {
        long seed = Seeds.forTest(testName());
        try {
            body.run(new Random(seed));
        } catch (TestAbortedException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t.getMessage() + "\n(test seed 0x" + Long.toHexString(seed) + ") "
                    + Seeds.reproduceWith(testName()), t);
        }
    }

    /** An offset in [0, size) that is often next to a 512/4K/64K/1M/2G/4G boundary. */
    static long interestingOffset(Random rnd, long size) {
        long at;
        if (rnd.nextInt(3) == 0) {
            at = rnd.nextLong(size);
        } else {
            long boundary = BOUNDARIES[rnd.nextInt(BOUNDARIES.length)];
            long multiple = boundary * rnd.nextLong(Math.max(1, size / boundary + 1));
            at = multiple + rnd.nextInt(7) - 3;
        }
        return Math.max(0, Math.min(size - 1, at));
    }

    /**
     * A buffer of {@code n} bytes in a random form: heap or direct, and often a window
     * (position..limit) of a larger buffer whose other bytes are sentinels.
     */
    static ByteBuffer window(Random rnd, int n) {
        int before = rnd.nextBoolean() ? 0 : rnd.nextInt(64);
        int after = rnd.nextBoolean() ? 0 : rnd.nextInt(64);
        ByteBuffer b = rnd.nextBoolean() ? ByteBuffer.allocateDirect(before + n + after)
                : ByteBuffer.allocate(before + n + after);
        while (b.hasRemaining()) {
            b.put((byte) 0x5A);
        }
        b.position(before).limit(before + n);
        return b;
    }

    static void writeChecked(Device d, SparseModel model, long offset, byte[] data, Random rnd) throws IOException {
        ByteBuffer src = window(rnd, data.length);
        int start = src.position();
        src.put(data).position(start);
        int limit = src.limit();
        d.write(src, offset);
        assertThat(src.position()).as("write must advance the buffer's position to its limit").isEqualTo(limit);
        assertThat(src.limit()).as("write must not change the buffer's limit").isEqualTo(limit);
        model.write(offset, data);
    }

    static byte[] readChecked(Device d, long offset, int length, Random rnd) throws IOException {
        ByteBuffer dst = window(rnd, length);
        int start = dst.position();
        int limit = dst.limit();
        d.read(dst, offset);
        assertThat(dst.position()).as("read must fill the buffer to its limit").isEqualTo(limit);
        assertThat(dst.limit()).as("read must not change the buffer's limit").isEqualTo(limit);
        ByteBuffer all = dst.duplicate().clear();
        for (int i = 0; i < start; i++) {
            assertThat(all.get(i)).as("read wrote before the buffer's position").isEqualTo((byte) 0x5A);
        }
        for (int i = limit; i < all.capacity(); i++) {
            assertThat(all.get(i)).as("read wrote past the buffer's limit").isEqualTo((byte) 0x5A);
        }
        byte[] out = new byte[length];
        dst.get(start, out);
        return out;
    }

    /** Reads {@code [offset, offset + length)} in pieces of at most 4 MiB and compares with the model. */
    static void verify(Device d, SparseModel model, long offset, int length, Random rnd) throws IOException {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int n = (int) Math.min(end - pos, 4 << 20);
            byte[] actual = readChecked(d, pos, n, rnd);
            byte[] expected = model.read(pos, n);
            int mismatch = java.util.Arrays.mismatch(actual, expected);
            if (mismatch >= 0) {
                throw new AssertionError("content of '" + d.name() + "' differs at offset " + (pos + mismatch)
                        + ": expected " + expected[mismatch] + " but read " + actual[mismatch]);
            }
            pos += n;
        }
    }

    /** The whole device when small; else every page ever written plus samples of the rest. */
    static void verifyAll(Device d, SparseModel model, Random rnd) throws IOException {
        long size = d.size();
        if (size <= 64L << 20) {
            verify(d, model, 0, (int) size, rnd);
            return;
        }
        for (long page : model.touchedPages()) {
            verify(d, model, page, (int) Math.min(SparseModel.PAGE, size - page), rnd);
        }
        for (int i = 0; i < 64; i++) {
            long at = interestingOffset(rnd, size);
            verify(d, model, at, (int) Math.min(size - at, 8192), rnd);
        }
    }

    static void assertZeros(Device d, long offset, long length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int n = (int) Math.min(end - pos, buf.capacity());
            buf.clear().limit(n);
            d.read(buf, pos);
            for (int i = 0; i < n; i++) {
                if (buf.get(i) != 0) {
                    throw new AssertionError("'" + d.name() + "' should read zeros at offset " + (pos + i)
                            + " but holds " + buf.get(i));
                }
            }
            pos += n;
        }
    }

    /**
     * The allocation map of the range exactly covers it, in order, with positive lengths and
     * adjacent runs of different types, and every HOLE/ZERO run reads as zeros.
     */
    static void checkExtentsConsistent(Device d, long offset, long length) throws IOException {
        List<Extent> extents = d.extents(offset, length);
        if (length == 0) {
            assertThat(extents).isEmpty();
            return;
        }
        long pos = offset;
        Extent previous = null;
        for (Extent e : extents) {
            assertThat(e.offset()).as("extents of [%d, +%d) must be contiguous: %s", offset, length, extents)
                    .isEqualTo(pos);
            assertThat(e.length()).isPositive();
            if (previous != null) {
                assertThat(e.type()).as("adjacent extents of one type must be merged: %s", extents)
                        .isNotEqualTo(previous.type());
            }
            if (e.type().readsAsZeros()) {
                assertZerosSampled(d, e.offset(), e.length());
            }
            previous = e;
            pos = e.end();
        }
        assertThat(pos).as("extents must end exactly at the end of the range: %s", extents).isEqualTo(offset + length);
    }

    /** Every byte of runs up to 8 MiB; for longer runs the first and last MiB and 16 pieces between. */
    static void assertZerosSampled(Device d, long offset, long length) throws IOException {
        long limit = 8L << 20;
        if (length <= limit) {
            assertZeros(d, offset, length);
            return;
        }
        assertZeros(d, offset, 1 << 20);
        assertZeros(d, offset + length - (1 << 20), 1 << 20);
        long step = length / 17;
        for (int i = 1; i <= 16; i++) {
            assertZeros(d, offset + i * step, 65536);
        }
    }

    static void assertIllegal(ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class);
    }

    static void assertClosed(ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(DeviceClosedException.class);
    }
}

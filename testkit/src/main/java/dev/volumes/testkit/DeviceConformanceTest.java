package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The conformance suite every {@link Device} implementation runs (after Lucene's
 * {@code BaseDirectoryTestCase}). Extend it in test scope and implement {@link #create(long)};
 * override the hooks that apply:
 * <ul>
 *   <li>{@link #reopen(Device)} for persistent devices (durability across close/reopen);</li>
 *   <li>{@link #createReadOnly(byte[])} for read-only refusal tests;</li>
 *   <li>{@link #writable()} false for devices that only exist read-only (then the write tests are
 *       skipped and the read tests use {@code createReadOnly});</li>
 *   <li>{@link #deviceSize()} for the size most tests use (default an odd size just over 4 MiB);
 *       resize tests run when the device reports {@link Capability#RESIZE}.</li>
 * </ul>
 * Randomized tests draw from {@link Seeds}; a failure message carries the "reproduce with" line.
 * The suite closes every device it obtained after each test. Content, extent and error checks
 * live in a package-private base class to keep this file readable.
 */
public abstract class DeviceConformanceTest extends DeviceConformanceChecks {

    private static final int KIB = 1024;
    private static final int MIB = 1024 * 1024;

    /**
     * A new, writable device of exactly {@code size} bytes that reads as zeros. Called several
     * times per test at most; the suite closes what it gets.
     */
    protected abstract Device create(long size) throws IOException;

    /**
     * Reopens a device that was synced and closed, for persistent devices; the default returns
     * null, meaning "not persistent", and durability tests are skipped.
     */
    protected Device reopen(Device closed) throws IOException {
        return null;
    }

    /**
     * A read-only device whose content is {@code content} (its size is {@code content.length}),
     * or null (the default) if the implementation has no read-only form.
     */
    protected Device createReadOnly(byte[] content) throws IOException {
        return null;
    }

    /** Whether {@link #create(long)} gives writable devices; false for read-only-only devices. */
    protected boolean writable() {
        return true;
    }

    /** The size of the devices most tests create. */
    protected long deviceSize() {
        return 4L * MIB + 3 * 512 + 17;
    }

    private final List<Device> opened = new ArrayList<>();
    private String testName = "?";

    @BeforeEach
    final void rememberTestName(TestInfo info) {
        testName = getClass().getName() + "#" + info.getTestMethod().map(m -> m.getName()).orElse("?");
    }

    @AfterEach
    final void closeDevices() {
        for (Device d : opened) {
            try {
                d.close();
            } catch (IOException | RuntimeException ignored) {
                // already closed or broken on purpose by the test
            }
        }
        opened.clear();
    }

    @Override
    final String testName() {
        return testName;
    }

    /** A tracked writable device of {@code size} bytes (skips the test if not {@link #writable()}). */
    protected final Device newDevice(long size) throws IOException {
        assumeTrue(writable(), "device is read-only only");
        return track(create(size));
    }

    /** A tracked device holding {@code content}: written into a writable one, or read-only. */
    protected final Device deviceWith(byte[] content) throws IOException {
        if (writable()) {
            Device d = newDevice(content.length);
            d.write(ByteBuffer.wrap(content), 0);
            return d;
        }
        Device d = createReadOnly(content);
        assumeTrue(d != null, "no read-only form");
        return track(d);
    }

    private Device track(Device d) {
        assertThat(d).as("create/reopen returned null").isNotNull();
        opened.add(d);
        return d;
    }

    private byte[] randomContent(Random rnd, int size) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        return b;
    }

    private int readSideSize() {
        return (int) Math.min(deviceSize(), MIB + 777);
    }

    // ---------------------------------------------------------------- size and bounds

    @Test
    void sizeIsTheCreatedSize() throws IOException {
        Device d = newDevice(deviceSize());
        assertThat(d.size()).isEqualTo(deviceSize());
        assertThat(d.name()).isNotBlank();
        assertThat(d.capabilities().readOnly()).as("a writable device must not report READ_ONLY").isFalse();
    }

    @Test
    void readPastTheEndThrowsOutOfRange() throws IOException {
        Device d = deviceWith(new byte[readSideSize()]);
        long size = d.size();
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(11), size - 10)).isInstanceOf(OutOfRangeException.class)
                .hasMessageContaining(d.name());
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(1), size)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(0), size + 1)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(10), Long.MAX_VALUE - 2))
                .isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.extents(size - 1, 2)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.extents(5, Long.MAX_VALUE - 2)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.prefetch(size - 1, 2)).isInstanceOf(OutOfRangeException.class);
        d.prefetch(0, size);
        d.read(ByteBuffer.allocate(0), size);
        assertThat(d.extents(size, 0)).isEmpty();
    }

    @Test
    void modificationsPastTheEndThrowOutOfRangeAndChangeNothing() throws IOException {
        Device d = newDevice(deviceSize());
        long size = d.size();
        ByteBuffer ones = ByteBuffer.wrap(filled(20, (byte) 1));
        assertThatThrownBy(() -> d.write(ones, size - 10)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.write(ones, size - 10, WriteFlag.FUA)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.write(ones, Long.MAX_VALUE - 5)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.writeZeroes(size - 10, 11, true)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.writeZeroes(10, Long.MAX_VALUE - 5, false)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.discard(size - 10, 11)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> d.discard(Long.MAX_VALUE, Long.MAX_VALUE)).isInstanceOf(OutOfRangeException.class);
        assertThat(ones.position()).as("a refused write must not consume its buffer").isZero();
        assertZeros(d, size - 64 * KIB, 64 * KIB);
    }

    @Test
    void negativeOffsetsLengthsAndNullBuffersAreIllegalArguments() throws IOException {
        Device d = deviceWith(new byte[readSideSize()]);
        assertIllegal(() -> d.read(ByteBuffer.allocate(1), -1));
        assertIllegal(() -> d.read(null, 0));
        assertIllegal(() -> d.extents(-1, 1));
        assertIllegal(() -> d.extents(0, -1));
        if (writable()) {
            assertIllegal(() -> d.write(ByteBuffer.allocate(1), -1));
            assertIllegal(() -> d.write(null, 0));
            assertIllegal(() -> d.write(null, 0, WriteFlag.FUA));
            assertIllegal(() -> d.write(ByteBuffer.allocate(1), -1, WriteFlag.FUA));
            assertIllegal(() -> d.writeZeroes(-1, 1, true));
            assertIllegal(() -> d.writeZeroes(0, -1, false));
            assertIllegal(() -> d.discard(-1, 1));
            assertIllegal(() -> d.discard(0, -1));
        }
    }

    // ---------------------------------------------------------------- content

    @Test
    void neverWrittenRangesReadAsZeros() throws IOException {
        Device d = newDevice(deviceSize());
        assertZeros(d, 0, Math.min(d.size(), 2 * MIB));
        assertZeros(d, d.size() - Math.min(d.size(), 64 * KIB + 3), Math.min(d.size(), 64 * KIB + 3));
    }

    @Test
    void writesAtOddOffsetsAndLengthsReadBackExactly() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            SparseModel model = new SparseModel(d.size());
            int rounds = Seeds.scaled(60);
            for (int i = 0; i < rounds; i++) {
                long offset = interestingOffset(rnd, d.size());
                int length = (int) Math.min(d.size() - offset, 1 + rnd.nextInt(i % 7 == 0 ? 2 * MIB : 9000));
                writeChecked(d, model, offset, randomContent(rnd, length), rnd);
                long at = interestingOffset(rnd, d.size());
                verify(d, model, at, (int) Math.min(d.size() - at, 1 + rnd.nextInt(200 * KIB)), rnd);
            }
            verifyAll(d, model, rnd);
        });
    }

    @Test
    void readsAtOddOffsetsOfKnownContent() throws IOException {
        withSeed(rnd -> {
            byte[] content = randomContent(rnd, readSideSize());
            Device d = deviceWith(content);
            SparseModel model = new SparseModel(content.length);
            model.write(0, content);
            for (int i = 0; i < Seeds.scaled(40); i++) {
                long at = interestingOffset(rnd, d.size());
                verify(d, model, at, (int) Math.min(d.size() - at, rnd.nextInt(300 * KIB)), rnd);
            }
        });
    }

    @ParameterizedTest(name = "mayUnmap={0}")
    @ValueSource(booleans = {true, false})
    void writeZeroesReadsBackZerosAndLeavesNeighboursAlone(boolean mayUnmap) throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            SparseModel model = new SparseModel(d.size());
            int span = (int) Math.min(d.size(), 3 * MIB);
            writeChecked(d, model, 0, randomContent(rnd, span), rnd);
            long[][] ranges = {{0, 1}, {4095, 2}, {7, 65536 * 2 + 13}, {MIB - 100, MIB + 200}, {span - 4096, 4096}};
            for (long[] r : ranges) {
                if (r[0] + r[1] <= span) {
                    d.writeZeroes(r[0], r[1], mayUnmap);
                    model.zero(r[0], r[1]);
                }
            }
            d.writeZeroes(5, 0, mayUnmap);
            verify(d, model, 0, span, rnd);
            checkExtentsConsistent(d, 0, d.size());
        });
    }

    @Test
    void discardLeavesNeighboursAloneAndReadsZerosWhenAdvertised() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            SparseModel model = new SparseModel(d.size());
            int span = (int) Math.min(d.size(), 2 * MIB);
            writeChecked(d, model, 0, randomContent(rnd, span), rnd);
            long off = 65536 + 511;
            long len = 3 * 65536 + 3;
            d.discard(off, len);
            d.discard(off, 0);
            verify(d, model, 0, (int) off, rnd);
            verify(d, model, off + len, (int) (span - off - len), rnd);
            if (d.capabilities().has(Capability.DISCARD_READS_ZEROES)) {
                assertZeros(d, off, len);
            }
            checkExtentsConsistent(d, 0, d.size());
        });
    }

    @Test
    void extentsExactlyCoverSortedMergedAndZeroRunsReadZero() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            long size = d.size();
            for (int i = 0; i < Seeds.scaled(12); i++) {
                long off = interestingOffset(rnd, size);
                int len = (int) Math.min(size - off, 1 + rnd.nextInt(300 * KIB));
                d.write(ByteBuffer.wrap(randomContent(rnd, len)), off);
                long z = interestingOffset(rnd, size);
                long zl = Math.min(size - z, rnd.nextInt(200 * KIB));
                switch (rnd.nextInt(3)) {
                    case 0 -> d.writeZeroes(z, zl, true);
                    case 1 -> d.writeZeroes(z, zl, false);
                    default -> d.discard(z, zl);
                }
            }
            checkExtentsConsistent(d, 0, size);
            for (int i = 0; i < Seeds.scaled(30); i++) {
                long off = interestingOffset(rnd, size);
                checkExtentsConsistent(d, off, rnd.nextLong(size - off + 1));
            }
        });
    }

    @Test
    void extentsOfKnownContentAreConsistent() throws IOException {
        withSeed(rnd -> {
            byte[] content = new byte[readSideSize()];
            byte[] data = randomContent(rnd, 100 * KIB);
            System.arraycopy(data, 0, content, 300 * KIB, data.length);
            Device d = deviceWith(content);
            checkExtentsConsistent(d, 0, d.size());
            checkExtentsConsistent(d, 300 * KIB - 1, 2);
        });
    }

    // ---------------------------------------------------------------- durability

    @Test
    void fuaWriteAndSyncSucceedAndAreVisible() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            SparseModel model = new SparseModel(d.size());
            byte[] data = randomContent(rnd, 12345);
            ByteBuffer src = ByteBuffer.wrap(data);
            d.write(src, 4093, WriteFlag.FUA);
            assertThat(src.hasRemaining()).isFalse();
            model.write(4093, data);
            d.write(ByteBuffer.wrap(data), 70000, WriteFlag.NONE);
            model.write(70000, data);
            d.sync();
            verify(d, model, 0, 100 * KIB, rnd);
        });
    }

    @Test
    void syncedDataSurvivesCloseAndReopen() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            SparseModel model = new SparseModel(d.size());
            for (int i = 0; i < 20; i++) {
                long off = interestingOffset(rnd, d.size());
                byte[] data = randomContent(rnd, (int) Math.min(d.size() - off, 1 + rnd.nextInt(100 * KIB)));
                writeChecked(d, model, off, data, rnd);
            }
            d.writeZeroes(0, 4096, true);
            model.zero(0, 4096);
            byte[] last = randomContent(rnd, 777);
            d.write(ByteBuffer.wrap(last), 5000, WriteFlag.FUA);
            model.write(5000, last);
            d.sync();
            d.close();
            Device again = reopen(d);
            assumeTrue(again != null, "not a persistent device");
            track(again);
            assertThat(again.size()).isEqualTo(model.size());
            verifyAll(again, model, rnd);
        });
    }

    // ---------------------------------------------------------------- resize

    @Test
    void resizeGrowsWithZerosAndShrinksForgettingTheTail() throws IOException {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            assumeTrue(d.capabilities().has(Capability.RESIZE), "device does not resize");
            long size = d.size();
            SparseModel model = new SparseModel(size);
            writeChecked(d, model, size - 10000, randomContent(rnd, 10000), rnd);
            long smaller = size - 5003;
            d.resize(smaller);
            model.resize(smaller);
            assertThat(d.size()).isEqualTo(smaller);
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(2), smaller - 1)).isInstanceOf(OutOfRangeException.class);
            long bigger = size + 3 * MIB + 1;
            d.resize(bigger);
            model.resize(bigger);
            assertThat(d.size()).isEqualTo(bigger);
            verify(d, model, size - 20000, (int) (bigger - (size - 20000)), rnd);
            writeChecked(d, model, bigger - 100, randomContent(rnd, 100), rnd);
            verify(d, model, bigger - 4096, 4096, rnd);
            checkExtentsConsistent(d, 0, bigger);
            d.sync();
        });
    }

    // ---------------------------------------------------------------- read-only

    @Test
    void readOnlyDeviceRefusesEveryModificationAndKeepsItsContent() throws IOException {
        withSeed(rnd -> {
            byte[] content = randomContent(rnd, 256 * KIB + 123);
            Device d = createReadOnly(content);
            assumeTrue(d != null, "no read-only form");
            track(d);
            assertThat(d.capabilities().readOnly()).isTrue();
            assertThat(d.size()).isEqualTo(content.length);
            ByteBuffer src = ByteBuffer.wrap(new byte[100]);
            assertThatThrownBy(() -> d.write(src, 0)).isInstanceOf(ReadOnlyDeviceException.class)
                    .hasMessageContaining("read-only");
            assertThatThrownBy(() -> d.write(src, 0, WriteFlag.FUA)).isInstanceOf(ReadOnlyDeviceException.class);
            assertThatThrownBy(() -> d.writeZeroes(0, 100, true)).isInstanceOf(ReadOnlyDeviceException.class);
            assertThatThrownBy(() -> d.writeZeroes(0, 100, false)).isInstanceOf(ReadOnlyDeviceException.class);
            assertThatThrownBy(() -> d.discard(0, 4096)).isInstanceOf(ReadOnlyDeviceException.class);
            assertThatThrownBy(() -> d.resize(content.length * 2L)).isInstanceOf(ReadOnlyDeviceException.class);
            assertThat(src.position()).isZero();
            d.sync();
            SparseModel model = new SparseModel(content.length);
            model.write(0, content);
            verifyAll(d, model, rnd);
        });
    }

    // ---------------------------------------------------------------- close

    @Test
    void closedDeviceRefusesEverythingAndCloseIsIdempotent() throws IOException {
        Device d = deviceWith(new byte[readSideSize()]);
        boolean resizes = d.capabilities().has(Capability.RESIZE);
        String name = d.name();
        d.close();
        d.close();
        assertThat(d.name()).isEqualTo(name);
        assertClosed(d::size);
        assertClosed(() -> d.read(ByteBuffer.allocate(10), 0));
        assertClosed(() -> d.write(ByteBuffer.allocate(10), 0));
        assertClosed(() -> d.write(ByteBuffer.allocate(10), 0, WriteFlag.FUA));
        assertClosed(d::sync);
        assertClosed(() -> d.writeZeroes(0, 10, true));
        assertClosed(() -> d.writeZeroes(0, 10, false));
        assertClosed(() -> d.discard(0, 10));
        assertClosed(() -> d.extents(0, 10));
        assertClosed(() -> d.prefetch(0, 10));
        if (resizes) {
            assertClosed(() -> d.resize(4096));
        }
    }

    // ---------------------------------------------------------------- concurrency

    @Test
    void concurrentDisjointWritersAndReadersSeeTheirOwnBytes() throws Exception {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            int threads = 8;
            long region = d.size() / threads;
            long[] seeds = new long[threads];
            for (int t = 0; t < threads; t++) {
                seeds[t] = rnd.nextLong();
            }
            int rounds = Seeds.scaled(25);
            runConcurrently(threads, t -> {
                Random r = new Random(seeds[t]);
                long base = t * region;
                byte[] mine = new byte[(int) Math.min(region, 256 * KIB)];
                for (int i = 0; i < rounds; i++) {
                    int off = r.nextInt(mine.length);
                    int len = 1 + r.nextInt(mine.length - off);
                    byte[] data = new byte[len];
                    r.nextBytes(data);
                    ByteBuffer src = r.nextBoolean() ? ByteBuffer.allocateDirect(len) : ByteBuffer.allocate(len);
                    src.put(data).flip();
                    d.write(src, base + off);
                    System.arraycopy(data, 0, mine, off, len);
                    ByteBuffer back = ByteBuffer.allocate(mine.length);
                    d.read(back, base);
                    assertThat(back.array()).as("thread %d round %d", t, i).isEqualTo(mine);
                }
            });
        });
    }

    @Test
    void concurrentReadersOfKnownContentAllSeeIt() throws Exception {
        withSeed(rnd -> {
            byte[] content = randomContent(rnd, readSideSize());
            Device d = deviceWith(content);
            int threads = 8;
            long[] seeds = new long[threads];
            for (int t = 0; t < threads; t++) {
                seeds[t] = rnd.nextLong();
            }
            int rounds = Seeds.scaled(50);
            runConcurrently(threads, t -> {
                Random r = new Random(seeds[t]);
                for (int i = 0; i < rounds; i++) {
                    int off = r.nextInt(content.length);
                    int len = r.nextInt(Math.min(content.length - off, 128 * KIB) + 1);
                    ByteBuffer dst = r.nextBoolean() ? ByteBuffer.allocateDirect(len) : ByteBuffer.allocate(len);
                    d.read(dst, off);
                    byte[] got = new byte[len];
                    dst.flip().get(got);
                    if (!java.util.Arrays.equals(got, 0, len, content, off, off + len)) {
                        throw new AssertionError("reader " + t + " read wrong bytes at [" + off + ", +" + len + ")");
                    }
                }
            });
        });
    }

    @Test
    void overlappingConcurrentWritesLeaveOneWriterPerSector() throws Exception {
        withSeed(rnd -> {
            Device d = newDevice(deviceSize());
            int writers = 6;
            int length = (int) Math.min(d.size() - 512, 256 * KIB + 512);
            long offset = 512L * rnd.nextInt((int) Math.min(64, (d.size() - length) / 512 + 1));
            int rounds = Seeds.scaled(10);
            for (int round = 0; round < rounds; round++) {
                runConcurrently(writers, t -> {
                    ByteBuffer src = ByteBuffer.allocateDirect(length);
                    while (src.hasRemaining()) {
                        src.put((byte) (t + 1));
                    }
                    src.flip();
                    d.write(src, offset);
                });
                ByteBuffer back = ByteBuffer.allocate(length);
                d.read(back, offset);
                byte[] b = back.array();
                for (int s = 0; s < length; s += 512) {
                    byte first = b[s];
                    assertThat(first).as("sector at %d, round %d", offset + s, round).isBetween((byte) 1, (byte) writers);
                    for (int i = s; i < s + 512; i++) {
                        if (b[i] != first) {
                            throw new AssertionError("sector at " + (offset + s) + " holds bytes of two writers ("
                                    + first + " and " + b[i] + " at +" + (i - s) + "), round " + round);
                        }
                    }
                }
            }
        });
    }

    // ---------------------------------------------------------------- helpers

    private static byte[] filled(int n, byte value) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, value);
        return b;
    }

    private static void runConcurrently(int threads, ThreadBody body) throws Exception {
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                futures.add(pool.submit(() -> {
                    body.run(id);
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(5, TimeUnit.MINUTES);
            }
        }
    }

    @FunctionalInterface
    private interface ThreadBody {
        void run(int thread) throws Exception;
    }
}

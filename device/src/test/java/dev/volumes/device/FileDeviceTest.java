package dev.volumes.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FileDevice behaviour the conformance suite cannot see: real hole punching (allocated blocks
 * measured with {@code stat -c %b}), extents from {@code SEEK_HOLE}, honest capabilities and bad
 * input.
 */
class FileDeviceTest {

    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void capabilitiesOnLinuxIncludeHolePunchingAndExtentsButNotFua() throws IOException {
        assumeTrue(LinuxFiles.load().isPresent(), "not Linux");
        try (FileDevice d = FileDevice.create(dir.resolve("caps.img"), MIB)) {
            assertThat(d.capabilities().asSet()).contains(Capability.RESIZE, Capability.EXTENTS, Capability.DISCARD,
                    Capability.DISCARD_READS_ZEROES, Capability.WRITE_ZEROES, Capability.WRITE_ZEROES_UNMAP)
                    .doesNotContain(Capability.FUA, Capability.READ_ONLY, Capability.VOLATILE);
        }
        try (FileDevice r = FileDevice.openReadOnly(dir.resolve("caps.img"))) {
            assertThat(r.capabilities().asSet()).containsExactlyInAnyOrder(Capability.READ_ONLY, Capability.EXTENTS);
        }
    }

    @Test
    void createMakesASparseFileOfTheGivenSize() throws IOException {
        Path p = dir.resolve("sparse.img");
        try (FileDevice d = FileDevice.create(p, 64L * 1024 * MIB)) {
            assertThat(d.size()).isEqualTo(64L * 1024 * MIB);
            assertThat(Files.size(p)).isEqualTo(64L * 1024 * MIB);
            d.sync();
            assertThat(allocatedBytes(p)).isLessThan(MIB);
        }
    }

    @Test
    void discardAndWriteZeroesWithUnmapPunchHolesThatFreeBlocks() throws Exception {
        assumeTrue(LinuxFiles.load().isPresent(), "not Linux");
        Path p = dir.resolve("punch.img");
        try (FileDevice d = FileDevice.create(p, 8 * MIB)) {
            assumeTrue(d.capabilities().has(Capability.DISCARD), "filesystem cannot punch holes");
            byte[] data = new byte[8 * MIB];
            new Random(1).nextBytes(data);
            d.write(ByteBuffer.wrap(data), 0);
            d.sync();
            long full = allocatedBytes(p);
            assertThat(full).isGreaterThanOrEqualTo(8L * MIB);

            d.discard(MIB, 3 * MIB);
            d.sync();
            long afterDiscard = allocatedBytes(p);
            assertThat(full - afterDiscard).as("bytes freed by discarding 3 MiB").isGreaterThanOrEqualTo(3L * MIB);

            d.writeZeroes(5 * MIB, 2 * MIB, true);
            d.sync();
            long afterZeroes = allocatedBytes(p);
            assertThat(afterDiscard - afterZeroes).as("bytes freed by write-zeroes with unmap")
                    .isGreaterThanOrEqualTo(2L * MIB);

            d.writeZeroes(MIB, 3 * MIB, false);
            d.sync();
            assertThat(allocatedBytes(p) - afterZeroes).as("write-zeroes without unmap allocates the range")
                    .isGreaterThanOrEqualTo(3L * MIB);

            ByteBuffer back = ByteBuffer.allocate(8 * MIB);
            d.read(back, 0);
            byte[] expected = data.clone();
            java.util.Arrays.fill(expected, MIB, 4 * MIB, (byte) 0);
            java.util.Arrays.fill(expected, 5 * MIB, 7 * MIB, (byte) 0);
            assertThat(back.array()).isEqualTo(expected);
        }
    }

    @Test
    void extentsReportTheHolesSeekHoleFinds() throws IOException {
        assumeTrue(LinuxFiles.load().isPresent(), "not Linux");
        try (FileDevice d = FileDevice.create(dir.resolve("extents.img"), 8 * MIB)) {
            assumeTrue(d.capabilities().has(Capability.EXTENTS), "filesystem has no SEEK_HOLE");
            d.write(ByteBuffer.wrap(new byte[] {1}), MIB + 10);
            d.write(ByteBuffer.allocate(2 * MIB).put(0, (byte) 7), 4 * MIB);
            d.sync();
            List<Extent> all = d.extents(0, 8 * MIB);
            // Allocation granularity is the filesystem block; ext4/xfs/tmpfs use 4 KiB here.
            long block = 4096;
            assertThat(all).containsExactly(
                    new Extent(0, MIB, Extent.Type.HOLE),
                    new Extent(MIB, block, Extent.Type.DATA),
                    new Extent(MIB + block, 3 * MIB - block, Extent.Type.HOLE),
                    new Extent(4 * MIB, 2 * MIB, Extent.Type.DATA),
                    new Extent(6 * MIB, 2 * MIB, Extent.Type.HOLE));
            assertThat(d.extents(MIB + 5, 10)).containsExactly(new Extent(MIB + 5, 10, Extent.Type.DATA));
            assertThat(d.extents(7 * MIB, MIB)).containsExactly(new Extent(7 * MIB, MIB, Extent.Type.HOLE));
            d.discard(4 * MIB, 2 * MIB);
            assertThat(d.extents(3 * MIB, 5 * MIB)).containsExactly(new Extent(3 * MIB, 5 * MIB, Extent.Type.HOLE));
        }
    }

    @Test
    void resizeGrowsSparselyAndShrinksTheFile() throws IOException {
        Path p = dir.resolve("resize.img");
        try (FileDevice d = FileDevice.create(p, MIB)) {
            d.write(ByteBuffer.wrap(new byte[] {9, 9, 9}), MIB - 3);
            d.resize(10L * 1024 * MIB);
            d.sync();
            assertThat(Files.size(p)).isEqualTo(10L * 1024 * MIB);
            assertThat(allocatedBytes(p)).isLessThan(MIB);
            d.resize(MIB - 2);
            assertThat(Files.size(p)).isEqualTo(MIB - 2);
            assertThat(d.size()).isEqualTo(MIB - 2);
        }
    }

    @Test
    void createRefusesToOverwriteAnExistingFile() throws IOException {
        Path p = dir.resolve("exists.img");
        Files.writeString(p, "precious");
        assertThatThrownBy(() -> FileDevice.create(p, MIB)).isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(p.toString());
        assertThat(Files.readString(p)).isEqualTo("precious");
    }

    @Test
    void badArgumentsAreRejectedWithClearErrors() {
        Path p = dir.resolve("missing.img");
        assertThatThrownBy(() -> FileDevice.open(p)).isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(p.toString());
        assertThatThrownBy(() -> FileDevice.openReadOnly(p)).isInstanceOf(NoSuchFileException.class);
        assertThatThrownBy(() -> FileDevice.create(p, -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("negative size");
        assertThatThrownBy(() -> FileDevice.create(null, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FileDevice.open(null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FileDevice.open(dir)).isInstanceOf(IOException.class);
        assertThat(Files.exists(p)).isFalse();
    }

    @Test
    void outOfRangeAndClosedErrorsNameTheFileAndTheLimit() throws IOException {
        Path p = dir.resolve("errors.img");
        FileDevice d = FileDevice.create(p, 4096);
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(10), 4090)).isInstanceOf(OutOfRangeException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("size 4096")
                .hasMessageContaining("offset 4090");
        assertThatThrownBy(() -> d.write(ByteBuffer.allocate(1), -5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("negative offset -5");
        d.close();
        assertThatThrownBy(() -> d.read(ByteBuffer.allocate(1), 0)).isInstanceOf(DeviceClosedException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("closed");
    }

    @Test
    void aFileTruncatedBehindOurBackGivesAnErrorNotAShortRead() throws IOException {
        Path p = dir.resolve("truncated.img");
        try (FileDevice d = FileDevice.create(p, 64 * 1024)) {
            // Another program shrinks the file (locks are advisory). This drops our process's
            // POSIX lock too, which does not matter at the end of the test.
            try (FileChannel other = FileChannel.open(p, StandardOpenOption.WRITE)) {
                other.truncate(1000);
            }
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(4096), 0)).isInstanceOf(IOException.class)
                    .hasMessageContaining("truncated").hasMessageContaining(p.toString());
        }
    }

    @Test
    void interruptClosesTheChannelAndTheDeviceThenSaysSo() throws Exception {
        Path p = dir.resolve("interrupted.img");
        try (FileDevice d = FileDevice.create(p, MIB)) {
            Thread.currentThread().interrupt();
            try {
                assertThatThrownBy(() -> d.write(ByteBuffer.allocate(4096), 0)).isInstanceOf(DeviceClosedException.class);
            } finally {
                Thread.interrupted();
            }
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(1), 0)).isInstanceOf(DeviceClosedException.class)
                    .hasMessageContaining("interrupt");
        }
        try (FileDevice again = FileDevice.open(p)) {
            assertThat(again.size()).isEqualTo(MIB);
        }
    }

    /** Bytes allocated to {@code p} on the host filesystem, from {@code stat -c %b} (512-byte units). */
    private static long allocatedBytes(Path p) throws IOException {
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", p.toString()).redirectErrorStream(true).start();
        String out = new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        try {
            assertThat(stat.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        assertThat(stat.exitValue()).as("stat output: %s", out).isZero();
        String[] f = out.split("\\s+");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }
}

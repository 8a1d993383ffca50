package dev.volumes.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** MemoryDevice allocation accounting, which the conformance suite does not see. */
class MemoryDeviceTest {

    private static final int CHUNK = MemoryDevice.CHUNK;

    @Test
    void onlyWrittenChunksHoldMemoryEvenBeyondFourGigabytes() throws IOException {
        MemoryDevice d = MemoryDevice.create(1L << 40);
        assertThat(d.allocatedBytes()).isZero();
        d.write(ByteBuffer.wrap(new byte[] {1}), (1L << 32) + 5);
        assertThat(d.allocatedBytes()).isEqualTo(CHUNK);
        d.write(ByteBuffer.allocate(2), 3L * CHUNK - 1);
        assertThat(d.allocatedBytes()).isEqualTo(3L * CHUNK);
        ByteBuffer back = ByteBuffer.allocate(1);
        d.read(back, (1L << 32) + 5);
        assertThat(back.get(0)).isEqualTo((byte) 1);
        assertThat(d.allocatedBytes()).as("reads allocate nothing").isEqualTo(3L * CHUNK);
    }

    @Test
    void discardOfWholeChunksFreesThemPartialChunksAreZeroedInPlace() throws IOException {
        MemoryDevice d = MemoryDevice.create(16L * CHUNK);
        d.write(ByteBuffer.allocate(4 * CHUNK), 0);
        assertThat(d.allocatedBytes()).isEqualTo(4L * CHUNK);
        d.discard(CHUNK / 2, CHUNK);
        assertThat(d.allocatedBytes()).as("no whole chunk covered").isEqualTo(4L * CHUNK);
        d.discard(CHUNK, 2L * CHUNK);
        assertThat(d.allocatedBytes()).isEqualTo(2L * CHUNK);
        d.writeZeroes(3L * CHUNK, CHUNK, false);
        assertThat(d.allocatedBytes()).as("write-zeroes without unmap keeps memory").isEqualTo(2L * CHUNK);
        d.writeZeroes(3L * CHUNK, CHUNK, true);
        assertThat(d.allocatedBytes()).isEqualTo(CHUNK);
        assertThat(d.extents(0, 4L * CHUNK)).containsExactly(new Extent(0, CHUNK, Extent.Type.DATA),
                new Extent(CHUNK, 3L * CHUNK, Extent.Type.HOLE));
    }

    @Test
    void shrinkingFreesChunksPastTheEndAndCloseFreesEverything() throws IOException {
        MemoryDevice d = MemoryDevice.create(8L * CHUNK);
        d.write(ByteBuffer.allocate(8 * CHUNK), 0);
        d.resize(2L * CHUNK + 1);
        assertThat(d.allocatedBytes()).isEqualTo(3L * CHUNK);
        d.resize(8L * CHUNK);
        assertThat(d.allocatedBytes()).isEqualTo(3L * CHUNK);
        d.close();
        assertThat(d.allocatedBytes()).isZero();
    }

    @Test
    void negativeSizeIsRejected() {
        assertThatThrownBy(() -> MemoryDevice.create(-1)).isInstanceOf(IllegalArgumentException.class);
    }
}

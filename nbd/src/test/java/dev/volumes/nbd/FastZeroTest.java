package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code NBD_CMD_FLAG_FAST_ZERO}: {@link NbdDevice#writeZeroesIfFast} against our server (a
 * device that zeroes fast, one that cannot, one with 4 KiB blocks), {@link NbdDevice#writeZeroes}
 * never sending the flag, and our server passing the question on when it exports an NbdDevice.
 */
class FastZeroTest {

    private static final int SIZE = 1 << 20;

    private NbdServer server;
    private final MemoryDevice fast = MemoryDevice.create("fast", SIZE);
    private final MemoryDevice backing = MemoryDevice.create("slow", SIZE);

    /** A device whose write-zeroes is emulated (no {@link Capability#WRITE_ZEROES}). */
    private static Device slow(Device d) {
        return new ForwardingDevice(d) {
            @Override
            public Capabilities capabilities() {
                return Capabilities.of(Capability.FUA, Capability.EXTENTS);
            }
        };
    }

    @BeforeEach
    void start() throws IOException {
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("fast", fast, null);
        server.addExport("slow", slow(backing), null);
        server.addExport("blocks", new ForwardingDevice(MemoryDevice.create("blocks", SIZE)) {
            @Override
            public BlockSizes blockSizes() {
                return new BlockSizes(4096, 4096, 1 << 20);
            }
        }, null);
        server.start();
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
    }

    private NbdDevice open(String export) throws IOException {
        return NbdClient.builder().port(server.address().getPort()).exportName(export).open();
    }

    private static byte[] read(Device d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }

    private static byte[] ones(int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) 1);
        return b;
    }

    @Test
    void aServerThatZeroesFastDoesItAndTheRangeReadsZeros() throws IOException {
        try (NbdDevice d = open("fast")) {
            assertThat(d.session().has(Wire.TFLAG_SEND_FAST_ZERO)).isTrue();
            d.write(ByteBuffer.wrap(ones(SIZE)), 0);
            assertThat(d.writeZeroesIfFast(4096, 65536, true)).isTrue();
            assertThat(read(d, 4096, 65536)).containsOnly(0);
            assertThat(read(d, 0, 4096)).containsOnly(1);
            assertThat(read(d, 4096 + 65536, 4096)).containsOnly(1);
        }
        assertThat(server.stats().exports().get("fast").writeZeroes()).isEqualTo(1);
    }

    @Test
    void aServerThatCannotZeroFastRefusesAtOnceAndNothingChanges() throws IOException {
        try (NbdDevice d = open("slow")) {
            d.write(ByteBuffer.wrap(ones(SIZE)), 0);
            assertThat(d.writeZeroesIfFast(0, SIZE, false)).isFalse();
            assertThat(read(d, 0, SIZE)).containsOnly(1);
            // The refusal proves the flag went out: our server answers ENOTSUP only to FAST_ZERO.
            assertThat(server.stats().exports().get("slow").errors()).containsEntry("ENOTSUP", 1L);
            // writeZeroes never asks for fast: the server zeroes the slow way.
            d.writeZeroes(0, 8192, false);
            assertThat(read(d, 0, 8192)).containsOnly(0);
            assertThat(server.stats().exports().get("slow").errors()).containsEntry("ENOTSUP", 1L);
        }
    }

    @Test
    void unalignedEdgesAreWrittenOnlyAfterTheFastInteriorSucceeded() throws IOException {
        try (NbdDevice d = open("blocks")) {
            assertThat(d.blockSizes().minimum()).isEqualTo(4096);
            d.write(ByteBuffer.wrap(ones(SIZE)), 0);
            assertThat(d.writeZeroesIfFast(100, 3000, true)).as("no whole block: nothing fast to do").isFalse();
            assertThat(read(d, 0, 8192)).containsOnly(1);
            assertThat(d.writeZeroesIfFast(100, 20000, true)).isTrue();
            byte[] b = read(d, 0, 24576);
            for (int i = 0; i < b.length; i++) {
                assertThat(b[i]).as("byte %d", i).isEqualTo((byte) (i >= 100 && i < 20100 ? 0 : 1));
            }
        }
    }

    @Test
    void ourServerExportingAnNbdDeviceAsksItsUpstreamWhetherZeroingIsFast() throws Exception {
        try (NbdDevice fastUp = open("fast"); NbdDevice slowUp = open("slow");
                NbdServer proxy = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            fastUp.write(ByteBuffer.wrap(ones(8192)), 0);
            slowUp.write(ByteBuffer.wrap(ones(8192)), 0);
            proxy.addExport("fast", fastUp, null);
            proxy.addExport("slow", slowUp, null);
            proxy.start();
            try (RawClient c = new RawClient(proxy.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                assertThat(c.go("slow") & Wire.TFLAG_SEND_FAST_ZERO).isNotZero();
                c.request(Wire.CMD_FLAG_FAST_ZERO, Wire.CMD_WRITE_ZEROES, 1, 0, 8192, null);
                assertThat(c.simple()).containsExactly(Wire.ENOTSUP, 1);
            }
            try (RawClient c = new RawClient(proxy.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("fast");
                c.request(Wire.CMD_FLAG_FAST_ZERO, Wire.CMD_WRITE_ZEROES, 1, 0, 8192, null);
                assertThat(c.simple()).containsExactly(0, 1);
            }
            assertThat(read(backing, 0, 8192)).as("the slow upstream was not touched").containsOnly(1);
            assertThat(read(fast, 0, 8192)).containsOnly(0);
        }
    }
}

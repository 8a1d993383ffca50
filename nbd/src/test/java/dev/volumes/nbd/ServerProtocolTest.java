package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Byte-level conversations with an in-JVM server: handshake rules, extended headers, malformed traffic. */
class ServerProtocolTest {

    static final int FIXED_NO_ZEROES = Wire.CLIENT_FIXED_NEWSTYLE | Wire.CLIENT_NO_ZEROES;

    private NbdServer server;
    private MemoryDevice disk;

    @BeforeEach
    void start() throws Exception {
        disk = MemoryDevice.create("disk", 1 << 20);
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("disk", disk, "test disk");
        server.start();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    private RawClient client() throws Exception {
        RawClient c = new RawClient(server.address());
        c.greet(FIXED_NO_ZEROES);
        return c;
    }

    @Test
    void unknownOptionGetsErrUnsupAndTheNextOptionStillWorks() throws Exception {
        try (RawClient c = client()) {
            c.option(4, new byte[] {1, 2, 3});
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_UNSUP);
            c.option(Wire.OPT_LIST, new byte[0]);
            RawClient.OptionReply server = c.reply();
            assertThat(server.type()).isEqualTo(Wire.REP_SERVER);
            assertThat(new String(server.data(), 4, 4, StandardCharsets.UTF_8)).isEqualTo("disk");
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
        }
    }

    @Test
    void oversizedOptionIsRefusedWithTooBigAndNegotiationContinues() throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_GO, new byte[Wire.MAX_OPTION_LENGTH + 1]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_TOO_BIG);
            assertThat(c.go("disk") & Wire.TFLAG_HAS_FLAGS).isNotZero();
        }
    }

    @Test
    void malformedOptionsGetErrInvalidAndUnknownExportsErrUnknown() throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_LIST, new byte[2]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_INVALID);
            c.option(Wire.OPT_SET_META_CONTEXT, RawClient.metaData("disk", "base:allocation"));
            assertThat(c.reply().type()).as("meta context before structured replies").isEqualTo(Wire.REP_ERR_INVALID);
            c.option(Wire.OPT_GO, RawClient.infoData("nope"));
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_UNKNOWN);
            c.option(Wire.OPT_STARTTLS, new byte[0]);
            assertThat(c.reply().type()).as("no TLS configured").isEqualTo(Wire.REP_ERR_POLICY);
            c.option(Wire.OPT_ABORT, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void exportNameWithAndWithoutNoZeroes() throws Exception {
        for (int flags : new int[] {Wire.CLIENT_FIXED_NEWSTYLE, FIXED_NO_ZEROES}) {
            try (RawClient c = new RawClient(server.address())) {
                c.greet(flags);
                c.option(Wire.OPT_EXPORT_NAME, "disk".getBytes(StandardCharsets.UTF_8));
                ByteBuffer reply = c.read((flags & Wire.CLIENT_NO_ZEROES) != 0 ? 10 : 134);
                assertThat(reply.getLong()).isEqualTo(1 << 20);
                c.request(0, Wire.CMD_READ, 7, 0, 512, null);
                long[] simple = c.simple();
                assertThat(simple).containsExactly(0, 7);
                assertThat(c.read(512).array()).isEqualTo(new byte[512]);
            }
        }
    }

    @Test
    void unknownClientFlagsOrNonFixedNewstyleCloseTheConnection() throws Exception {
        for (int flags : new int[] {0, 1 << 5}) {
            try (RawClient c = new RawClient(server.address())) {
                c.greet(flags);
                assertThat(c.closedByServer()).isTrue();
            }
        }
        assertThat(server.stats().protocolErrors()).isEqualTo(2);
    }

    @Test
    void extendedHeadersCarryWritesReadsAndBlockStatus() throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_EXTENDED_HEADERS, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            c.option(Wire.OPT_SET_META_CONTEXT, RawClient.metaData("disk", "base:allocation"));
            RawClient.OptionReply meta = c.reply();
            assertThat(meta.type()).isEqualTo(Wire.REP_META_CONTEXT);
            assertThat(ByteBuffer.wrap(meta.data()).getInt()).isEqualTo(Wire.BASE_ALLOCATION_ID);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            int flags = c.go("disk");
            assertThat(flags & Wire.TFLAG_SEND_DF).isNotZero();
            c.extended = true;
            byte[] data = new byte[4096];
            java.util.Arrays.fill(data, (byte) 0x42);
            c.request(Wire.CMD_FLAG_FUA, Wire.CMD_WRITE, 1, 8192, data.length, data);
            RawClient.Chunk ok = c.chunk();
            assertThat(ok).extracting(RawClient.Chunk::magic, RawClient.Chunk::flags, RawClient.Chunk::type,
                    RawClient.Chunk::cookie, RawClient.Chunk::offset)
                    .containsExactly(Wire.EXTENDED_REPLY_MAGIC, Wire.REPLY_FLAG_DONE, Wire.REPLY_TYPE_NONE, 1L, 8192L);
            c.request(0, Wire.CMD_READ, 2, 8192, 4096, null);
            RawClient.Chunk read = c.chunk();
            assertThat(read.type()).isEqualTo(Wire.REPLY_TYPE_OFFSET_DATA);
            assertThat(ByteBuffer.wrap(read.payload()).getLong()).isEqualTo(8192);
            assertThat(java.util.Arrays.copyOfRange(read.payload(), 8, read.payload().length)).isEqualTo(data);
            c.request(0, Wire.CMD_BLOCK_STATUS, 3, 0, 1 << 20, null);
            RawClient.Chunk status = c.chunk();
            assertThat(status.type()).isEqualTo(Wire.REPLY_TYPE_BLOCK_STATUS_EXT);
            ByteBuffer s = ByteBuffer.wrap(status.payload());
            assertThat(s.getInt()).isEqualTo(Wire.BASE_ALLOCATION_ID);
            int count = s.getInt();
            // MemoryDevice allocates 64 KiB chunks: the write made [0, 64K) data, the rest is a hole.
            assertThat(count).isEqualTo(2);
            assertThat(new long[] {s.getLong(), s.getLong(), s.getLong(), s.getLong()})
                    .containsExactly(65536, 0, (1 << 20) - 65536, Wire.STATE_HOLE | Wire.STATE_ZERO);
        }
    }

    @Test
    void malformedTransmissionTrafficGetsErrorsOrACleanDisconnect() throws Exception {
        try (RawClient c = client()) {
            c.go("disk");
            c.request(0, 42, 1, 0, 0, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 1);
            c.request(Wire.CMD_FLAG_REQ_ONE, Wire.CMD_READ, 2, 0, 512, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 2);
            c.request(0, Wire.CMD_READ, 3, 1 << 20, 512, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 3);
            c.request(0, Wire.CMD_WRITE, 4, (1 << 20) - 256, 512, new byte[512]);
            assertThat(c.simple()).containsExactly(Wire.ENOSPC, 4);
            c.request(0, Wire.CMD_BLOCK_STATUS, 5, 0, 512, null);
            assertThat(c.simple()).as("block status without a meta context").containsExactly(Wire.EINVAL, 5);
            c.request(0, Wire.CMD_READ, 6, 0, (32 << 20) + 1, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 6);
            // Still in sync after all errors: a normal read works.
            c.request(0, Wire.CMD_READ, 7, 0, 16, null);
            assertThat(c.simple()).containsExactly(0, 7);
            c.read(16);
            // Bad magic: the stream cannot be trusted any more, the server hangs up.
            c.write(new byte[28]);
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(server.stats().protocolErrors()).isEqualTo(1);
    }

    @Test
    void clientVanishingMidPayloadLosesOnlyThatUnacknowledgedWrite() throws Exception {
        try (RawClient c = client()) {
            c.go("disk");
            byte[] acked = new byte[512];
            java.util.Arrays.fill(acked, (byte) 7);
            c.request(0, Wire.CMD_WRITE, 1, 0, 512, acked);
            assertThat(c.simple()).containsExactly(0, 1);
            ByteBuffer partial = ByteBuffer.allocate(28 + 100).putInt(Wire.REQUEST_MAGIC).putShort((short) 0)
                    .putShort((short) Wire.CMD_WRITE).putLong(2).putLong(4096).putInt(512).put(new byte[100]).flip();
            c.write(partial);
        }
        awaitNoConnections();
        ByteBuffer back = ByteBuffer.allocate(512);
        disk.read(back, 0);
        assertThat(back.array()).containsOnly((byte) 7);
    }

    @Test
    void pipelinedRequestsAllGetTheirOwnReply() throws Exception {
        try (RawClient c = client()) {
            c.go("disk");
            int n = 200;
            ByteBuffer all = ByteBuffer.allocate(n * (28 + 4096));
            for (int i = 0; i < n; i++) {
                byte[] data = new byte[4096];
                java.util.Arrays.fill(data, (byte) i);
                all.putInt(Wire.REQUEST_MAGIC).putShort((short) 0).putShort((short) Wire.CMD_WRITE).putLong(1000 + i)
                        .putLong((long) (i % 256) * 4096).putInt(4096).put(data);
            }
            c.write(all.flip());
            Set<Long> cookies = new HashSet<>();
            for (int i = 0; i < n; i++) {
                long[] r = c.simple();
                assertThat(r[0]).isZero();
                cookies.add(r[1]);
            }
            assertThat(cookies).hasSize(n);
        }
    }

    @Test
    void unixSocketServesTheSameProtocol(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path socket = dir.resolve("nbd.sock");
        try (NbdServer unix = NbdServer.builder().listen(null).unixSocket(socket).build()) {
            unix.addExport("disk", disk, null);
            unix.start();
            try (RawClient c = new RawClient(java.net.UnixDomainSocketAddress.of(socket))) {
                c.greet(FIXED_NO_ZEROES);
                c.go("");
                c.request(0, Wire.CMD_WRITE, 9, 0, 4, new byte[] {1, 2, 3, 4});
                assertThat(c.simple()).containsExactly(0, 9);
                c.option(0, new byte[0]); // not an option any more: a request with bad magic
            }
        }
        assertThat(java.nio.file.Files.exists(socket)).isFalse();
        ByteBuffer b = ByteBuffer.allocate(4);
        disk.read(b, 0);
        assertThat(b.array()).containsExactly(1, 2, 3, 4);
    }

    private void awaitNoConnections() throws InterruptedException {
        for (int i = 0; i < 500 && server.stats().connections() > 0; i++) {
            Thread.sleep(10);
        }
        assertThat(server.stats().connections()).isZero();
    }

    @Test
    void advertisedBlockSizesAreEnforced() throws Exception {
        dev.volumes.device.Device aligned = new dev.volumes.device.ForwardingDevice(MemoryDevice.create(1 << 20)) {
            @Override
            public dev.volumes.device.BlockSizes blockSizes() {
                return new dev.volumes.device.BlockSizes(4096, 4096, 1 << 20);
            }
        };
        server.addExport("aligned", aligned, null);
        try (RawClient c = client()) {
            c.option(Wire.OPT_GO, RawClient.infoData("aligned"));
            RawClient.OptionReply r;
            do {
                r = c.reply();
            } while (r.type() == Wire.REP_INFO);
            assertThat(r.type()).as("GO without INFO_BLOCK_SIZE for a 4 KiB device").isEqualTo(Wire.REP_ERR_BLOCK_SIZE_REQD);
            c.go("aligned"); // asks for INFO_BLOCK_SIZE
            c.request(0, Wire.CMD_READ, 1, 512, 4096, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 1);
            c.request(0, Wire.CMD_WRITE, 2, 0, 1000, new byte[1000]);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 2);
            c.request(0, Wire.CMD_WRITE, 3, 4096, 4096, new byte[4096]);
            assertThat(c.simple()).containsExactly(0, 3);
        }
    }

    @Test
    void structuredReadErrorsAreErrorChunksAndClosedDevicesGiveEshutdown() throws Exception {
        dev.volumes.device.Device failing = new dev.volumes.device.ForwardingDevice(MemoryDevice.create(1 << 20)) {
            @Override
            public void read(ByteBuffer dst, long offset) throws java.io.IOException {
                throw new java.io.IOException("disk on fire at " + offset);
            }
        };
        MemoryDevice closed = MemoryDevice.create(1 << 20);
        server.addExport("failing", failing, null);
        server.addExport("closed", closed, null);
        try (RawClient c = client()) {
            c.option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            c.go("failing");
            c.request(Wire.CMD_FLAG_DF, Wire.CMD_READ, 1, 0, 4096, null);
            RawClient.Chunk error = c.chunk();
            assertThat(error.type()).isEqualTo(Wire.REPLY_TYPE_ERROR);
            assertThat(error.flags()).isEqualTo(Wire.REPLY_FLAG_DONE);
            ByteBuffer e = ByteBuffer.wrap(error.payload());
            assertThat(e.getInt()).isEqualTo(Wire.EIO);
            byte[] message = new byte[e.getShort()];
            e.get(message);
            assertThat(new String(message, StandardCharsets.UTF_8)).contains("disk on fire at 0");
            c.request(0, Wire.CMD_READ, 2, 1 << 20, 4096, null);
            RawClient.Chunk range = c.chunk();
            assertThat(range.type()).as("even early EINVAL for READ is structured").isEqualTo(Wire.REPLY_TYPE_ERROR);
            assertThat(ByteBuffer.wrap(range.payload()).getInt()).isEqualTo(Wire.EINVAL);
        }
        try (RawClient c = client()) {
            c.go("closed");
            closed.close();
            c.request(0, Wire.CMD_FLUSH, 3, 0, 0, null);
            assertThat(c.simple()).containsExactly(Wire.ESHUTDOWN, 3);
            c.request(0, Wire.CMD_WRITE, 4, 0, 512, new byte[512]);
            assertThat(c.simple()).containsExactly(Wire.ESHUTDOWN, 4);
        }
        assertThat(server.stats().exports().get("failing").errors()).containsEntry("EIO", 1L).containsEntry("EINVAL", 1L);
    }
}

package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Byte-level answers of the server that docs/nbd.md promises: {@code NBD_OPT_LIST_META_CONTEXT}
 * (golden bytes), and exactly which errno each oversized or out-of-range request gets — EOVERFLOW
 * only where the spec allows it (a structured READ above the maximum payload), never for
 * payload-free commands, which are served at any length inside the export.
 */
class ServerAnswersTest {

    private static final int MAX = 1 << 20; // the export's maximum payload
    private static final long SIZE = 4L << 20;

    private NbdServer server;

    @BeforeEach
    void start() throws Exception {
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("disk", new ForwardingDevice(MemoryDevice.create("disk", SIZE)) {
            @Override
            public BlockSizes blockSizes() {
                return new BlockSizes(1, 4096, MAX);
            }
        }, null);
        server.start();
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    private RawClient client() throws Exception {
        RawClient c = new RawClient(server.address());
        c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
        return c;
    }

    /** Reads option replies up to and including the ACK (or the first error) as hex. */
    private static String replies(RawClient c, int count) throws Exception {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < count; i++) {
            ByteBuffer h = c.read(20);
            int len = h.getInt(16);
            out.append(Bytes.hex(h)).append(Bytes.hex(c.read(len))).append('|');
        }
        return out.toString();
    }

    private static final String META = "0003e889045565a9 00000009 00000004 00000013 00000000 626173653a616c6c6f636174696f6e"
            .replace(" ", "");
    private static final String ACK = "0003e889045565a9 00000009 00000001 00000000".replace(" ", "");

    @Test
    void listMetaContextListsBaseAllocationForMatchingQueriesAndIgnoresTheRest() throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk", "base:allocation"));
            assertThat(c.reply().type()).as("before structured replies").isEqualTo(Wire.REP_ERR_INVALID);
            c.option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);

            // base:allocation asked by name: one REP_META_CONTEXT (id 0: LIST selects nothing), then ACK.
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk", "base:allocation"));
            assertThat(replies(c, 2)).isEqualTo(META + "|" + ACK + "|");
            // No query = every context of the export; "base:" is the namespace wildcard.
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk"));
            assertThat(replies(c, 2)).isEqualTo(META + "|" + ACK + "|");
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk", "base:"));
            assertThat(replies(c, 2)).isEqualTo(META + "|" + ACK + "|");
            // Several matching queries: still listed once.
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk", "base:", "base:allocation", "qemu:x"));
            assertThat(replies(c, 2)).isEqualTo(META + "|" + ACK + "|");
            // Unknown namespaces and unknown base: leaves are ignored: just the ACK.
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("disk", "qemu:dirty-bitmap:b0", "base:dirty"));
            assertThat(replies(c, 1)).isEqualTo(ACK + "|");
            // An unknown export is an error.
            c.option(Wire.OPT_LIST_META_CONTEXT, RawClient.metaData("nope", "base:allocation"));
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_UNKNOWN);
            // Listing selects nothing: after GO, BLOCK_STATUS has no context.
            c.go("disk");
            c.request(0, Wire.CMD_BLOCK_STATUS, 1, 0, 4096, null);
            RawClient.Chunk e = c.chunk();
            assertThat(e.type()).isEqualTo(Wire.REPLY_TYPE_ERROR);
            assertThat(ByteBuffer.wrap(e.payload()).getInt()).isEqualTo(Wire.EINVAL);
        }
    }

    /** The errno of a one-chunk structured reply (0 for a simple success reply). */
    private static int errno(RawClient c, long cookie) throws Exception {
        ByteBuffer m = c.read(4);
        int magic = m.getInt(0);
        if (magic == Wire.SIMPLE_REPLY_MAGIC) {
            ByteBuffer rest = c.read(12);
            assertThat(rest.getLong(4)).isEqualTo(cookie);
            return rest.getInt(0);
        }
        ByteBuffer h = c.read(16);
        int type = Short.toUnsignedInt(h.getShort(2));
        assertThat(h.getLong(4)).isEqualTo(cookie);
        ByteBuffer payload = c.read(h.getInt(12));
        return type == Wire.REPLY_TYPE_ERROR ? payload.getInt(0) : 0;
    }

    @Test
    void eoverflowOnlyForAStructuredReadAboveTheMaximumPayloadAndPayloadFreeCommandsAreServedAtAnyLength()
            throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            c.option(Wire.OPT_SET_META_CONTEXT, RawClient.metaData("disk", "base:allocation"));
            assertThat(c.reply().type()).isEqualTo(Wire.REP_META_CONTEXT);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            int flags = c.go("disk");
            assertThat(flags & Wire.TFLAG_SEND_FAST_ZERO).isNotZero();
            long big = 3L << 20; // above the maximum payload, inside the export

            c.request(0, Wire.CMD_READ, 1, 0, MAX + 512, null);
            assertThat(errno(c, 1)).as("structured READ above the maximum").isEqualTo(Wire.EOVERFLOW);
            c.request(Wire.CMD_FLAG_DF, Wire.CMD_READ, 2, 0, MAX + 512, null);
            assertThat(errno(c, 2)).as("DF READ above the maximum").isEqualTo(Wire.EOVERFLOW);
            c.request(0, Wire.CMD_WRITE, 3, 0, MAX + 512, new byte[MAX + 512]);
            assertThat(errno(c, 3)).as("WRITE above the maximum (payload drained)").isEqualTo(Wire.EINVAL);

            c.request(0, Wire.CMD_WRITE_ZEROES, 4, 0, big, null);
            assertThat(errno(c, 4)).as("WRITE_ZEROES above the maximum").isZero();
            c.request(Wire.CMD_FLAG_FAST_ZERO, Wire.CMD_WRITE_ZEROES, 5, 0, big, null);
            assertThat(errno(c, 5)).as("FAST_ZERO above the maximum").isZero();
            c.request(0, Wire.CMD_TRIM, 6, 0, big, null);
            assertThat(errno(c, 6)).as("TRIM above the maximum").isZero();
            c.request(0, Wire.CMD_CACHE, 7, 0, big, null);
            assertThat(errno(c, 7)).as("CACHE above the maximum").isZero();
            c.request(0, Wire.CMD_BLOCK_STATUS, 8, 0, big, null);
            assertThat(errno(c, 8)).as("BLOCK_STATUS above the maximum").isZero();

            // Beyond the export: ENOSPC for the writing commands, EINVAL for the rest.
            c.request(0, Wire.CMD_WRITE, 9, SIZE - 256, 512, new byte[512]);
            assertThat(errno(c, 9)).isEqualTo(Wire.ENOSPC);
            c.request(0, Wire.CMD_WRITE_ZEROES, 10, SIZE - 256, 512, null);
            assertThat(errno(c, 10)).isEqualTo(Wire.ENOSPC);
            int[] others = {Wire.CMD_READ, Wire.CMD_TRIM, Wire.CMD_CACHE, Wire.CMD_BLOCK_STATUS};
            for (int i = 0; i < others.length; i++) {
                c.request(0, others[i], 11 + i, SIZE - 256, 512, null);
                assertThat(errno(c, 11 + i)).as("command %d beyond the export", others[i]).isEqualTo(Wire.EINVAL);
            }
        }
        try (RawClient c = client()) { // simple replies: the client broke a MUST NOT, so EINVAL
            c.go("disk");
            c.request(0, Wire.CMD_READ, 1, 0, MAX + 512, null);
            assertThat(c.simple()).containsExactly(Wire.EINVAL, 1);
        }
    }

    @Test
    void extendedHeadersSixtyFourBitLengthsGetTheSameErrnos() throws Exception {
        try (RawClient c = client()) {
            c.option(Wire.OPT_EXTENDED_HEADERS, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            c.go("disk");
            c.extended = true;
            c.request(0, Wire.CMD_READ, 1, 0, 1L << 32, null);
            assertThat(chunkErrno(c.chunk())).isEqualTo(Wire.EOVERFLOW);
            c.request(0, Wire.CMD_WRITE_ZEROES, 2, 0, 1L << 32, null);
            assertThat(chunkErrno(c.chunk())).as("a 4 GiB zero beyond a 4 MiB export").isEqualTo(Wire.ENOSPC);
            c.request(0, Wire.CMD_TRIM, 3, 0, 1L << 32, null);
            assertThat(chunkErrno(c.chunk())).isEqualTo(Wire.EINVAL);
            c.request(0, Wire.CMD_WRITE_ZEROES, 4, 0, SIZE, null);
            assertThat(chunkErrno(c.chunk())).as("the whole export in one request").isZero();
        }
    }

    private static int chunkErrno(RawClient.Chunk chunk) {
        return chunk.type() == Wire.REPLY_TYPE_ERROR ? ByteBuffer.wrap(chunk.payload()).getInt() : 0;
    }
}

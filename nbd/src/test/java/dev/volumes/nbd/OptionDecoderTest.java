package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptionDecoderTest {

    /** Client flags FIXED_NEWSTYLE|NO_ZEROES, then NBD_OPT_GO "disk" asking for INFO_BLOCK_SIZE (docs/nbd.md). */
    static final String GO_DISK = """
            00000003
            49484156454f5054 00000007 0000000c
            00000004 6469736b 0001 0003
            """;

    private static List<Object> decodeAll(OptionDecoder d, byte[] bytes, boolean oneByteAtATime) throws Exception {
        List<Object> out = new ArrayList<>();
        if (oneByteAtATime) {
            for (byte b : bytes) {
                ByteBuffer one = ByteBuffer.wrap(new byte[] {b});
                Object m = d.decode(one);
                assertThat(one.hasRemaining()).isFalse();
                if (m != null) {
                    out.add(m);
                }
            }
        } else {
            ByteBuffer all = ByteBuffer.wrap(bytes);
            Object m;
            while ((m = d.decode(all)) != null) {
                out.add(m);
            }
            assertThat(all.hasRemaining()).isFalse();
        }
        return out;
    }

    @Test
    void goldenGoOptionDecodesTheSameWholeAndOneByteAtATime() throws Exception {
        for (boolean slow : new boolean[] {false, true}) {
            List<Object> messages = decodeAll(new OptionDecoder(), Bytes.hex(GO_DISK), slow);
            assertThat(messages).hasSize(2);
            assertThat(messages.get(0)).isEqualTo(new OptionDecoder.ClientFlags(3));
            OptionDecoder.RawOption raw = (OptionDecoder.RawOption) messages.get(1);
            assertThat(raw.option()).isEqualTo(Wire.OPT_GO);
            assertThat(OptionRequest.parse(raw)).isEqualTo(new OptionRequest.Info(true, "disk", List.of(3)));
        }
    }

    @Test
    void theSharedOptionEncoderProducesTheGoldenBytesAndRoundTripsThroughTheDecoder() throws Exception {
        ByteBuffer go = ByteBuffer.allocate(64).put(OptionEncoder.clientFlags(3))
                .put(OptionEncoder.option(Wire.OPT_GO, OptionEncoder.info("disk", Wire.INFO_BLOCK_SIZE))).flip();
        assertThat(Bytes.hex(go)).isEqualTo(Bytes.hex(Bytes.hex(GO_DISK)));
        // UTF-8 lengths are in bytes, not chars: "dé" is 3 bytes.
        byte[] meta = OptionEncoder.metaContext("dé", "base:allocation", "qemu:x");
        OptionDecoder d = new OptionDecoder();
        d.decode(OptionEncoder.clientFlags(1));
        OptionDecoder.RawOption raw = (OptionDecoder.RawOption) d.decode(OptionEncoder.option(Wire.OPT_LIST_META_CONTEXT, meta));
        assertThat(OptionRequest.parse(raw))
                .isEqualTo(new OptionRequest.MetaContext(false, "dé", List.of("base:allocation", "qemu:x")));
        assertThatThrownBy(() -> OptionEncoder.info("x".repeat(Wire.MAX_STRING + 1)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void oversizedOptionIsSkippedWithoutAllocationAndTheNextOptionStillParses() throws Exception {
        ByteBuffer in = ByteBuffer.allocate(4 + 16 + 100 + 16)
                .putInt(1)
                .putLong(Wire.IHAVEOPT).putInt(99).putInt(100).put(new byte[100])
                .putLong(Wire.IHAVEOPT).putInt(Wire.OPT_LIST).putInt(0)
                .flip();
        for (boolean slow : new boolean[] {false, true}) {
            List<Object> messages = decodeAll(new OptionDecoder(64), in.array(), slow);
            assertThat(messages).hasSize(3);
            assertThat(messages.get(1)).isEqualTo(new OptionDecoder.Oversized(99, 100));
            assertThat(OptionRequest.parse((OptionDecoder.RawOption) messages.get(2)))
                    .isEqualTo(new OptionRequest.ListExports());
        }
    }

    @Test
    void hugeDeclaredLengthIsNotAllocated() throws Exception {
        OptionDecoder d = new OptionDecoder();
        ByteBuffer in = ByteBuffer.allocate(20).putInt(1).putLong(Wire.IHAVEOPT).putInt(7).putInt(0xFFFFFFFF).flip();
        assertThat(d.decode(in)).isEqualTo(new OptionDecoder.ClientFlags(1));
        assertThat(d.decode(in)).isNull(); // skipping 4 GiB, nothing allocated, waiting for bytes
    }

    @Test
    void badOptionMagicIsAProtocolError() throws Exception {
        OptionDecoder d = new OptionDecoder();
        ByteBuffer in = ByteBuffer.allocate(20).putInt(1).putLong(0x1122334455667788L).putInt(7).putInt(0).flip();
        d.decode(in);
        assertThatThrownBy(() -> d.decode(in)).isInstanceOf(ProtocolException.class).hasMessageContaining("IHAVEOPT");
    }
}

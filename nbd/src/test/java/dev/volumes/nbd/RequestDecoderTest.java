package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class RequestDecoderTest {

    /** NBD_CMD_WRITE with FUA, cookie 0x0102030405060708, offset 4096, length 512 (compact, docs/nbd.md). */
    static final String COMPACT_WRITE = "25609513 0001 0001 0102030405060708 0000000000001000 00000200";
    /** The same request with extended headers: 64-bit length. */
    static final String EXTENDED_WRITE = "21e41c71 0001 0001 0102030405060708 0000000000001000 0000000000000200";

    private static RequestDecoder.Request decode(RequestDecoder d, byte[] bytes, boolean slow) throws Exception {
        RequestDecoder.Request r = null;
        if (slow) {
            for (int i = 0; i < bytes.length; i++) {
                RequestDecoder.Request got = d.decode(ByteBuffer.wrap(bytes, i, 1));
                if (i < bytes.length - 1) {
                    assertThat(got).isNull();
                } else {
                    r = got;
                }
            }
        } else {
            r = d.decode(ByteBuffer.wrap(bytes));
        }
        return r;
    }

    @Test
    void compactAndExtendedHeadersDecodeWholeAndOneByteAtATime() throws Exception {
        RequestDecoder.Request expected = new RequestDecoder.Request(1, 1, 0x0102030405060708L, 4096, 512);
        for (boolean slow : new boolean[] {false, true}) {
            assertThat(decode(new RequestDecoder(false), Bytes.hex(COMPACT_WRITE), slow)).isEqualTo(expected);
            assertThat(decode(new RequestDecoder(true), Bytes.hex(EXTENDED_WRITE), slow)).isEqualTo(expected);
        }
    }

    @Test
    void theSharedEncoderProducesTheGoldenBytesTheDecoderReads() throws Exception {
        assertThat(Bytes.hex(RequestEncoder.header(false, 1, Wire.CMD_WRITE, 0x0102030405060708L, 4096, 512)))
                .isEqualTo(COMPACT_WRITE.replace(" ", ""));
        assertThat(Bytes.hex(RequestEncoder.header(true, 1, Wire.CMD_WRITE, 0x0102030405060708L, 4096, 512)))
                .isEqualTo(EXTENDED_WRITE.replace(" ", ""));
        RequestDecoder.Request big = new RequestDecoder(true)
                .decode(RequestEncoder.header(true, 0, Wire.CMD_WRITE_ZEROES, 9, 1L << 40, 5L << 32));
        assertThat(big).isEqualTo(new RequestDecoder.Request(0, Wire.CMD_WRITE_ZEROES, 9, 1L << 40, 5L << 32));
    }

    @Test
    void twoRequestsBackToBackInOneBuffer() throws Exception {
        RequestDecoder d = new RequestDecoder(false);
        ByteBuffer in = ByteBuffer.wrap(Bytes.hex(COMPACT_WRITE + COMPACT_WRITE.replace("0001 0001", "0000 0003")));
        assertThat(d.decode(in).type()).isEqualTo(Wire.CMD_WRITE);
        assertThat(d.decode(in).type()).isEqualTo(Wire.CMD_FLUSH);
        assertThat(in.hasRemaining()).isFalse();
        assertThat(d.idle()).isTrue();
    }

    @Test
    void lengthIsUnsigned() throws Exception {
        RequestDecoder.Request r = new RequestDecoder(false)
                .decode(ByteBuffer.wrap(Bytes.hex("25609513 0000 0000 0000000000000001 ffffffffffffffff ffffffff")));
        assertThat(r.length()).isEqualTo(0xFFFF_FFFFL);
        assertThat(r.offset()).isEqualTo(-1L); // beyond 2^63: callers treat negative as out of range
    }

    @Test
    void wrongMagicForTheNegotiatedHeaderStyleIsAProtocolError() {
        assertThatThrownBy(() -> new RequestDecoder(true).decode(ByteBuffer.wrap(Bytes.hex(COMPACT_WRITE + "00000000"))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("0x25609513");
        assertThatThrownBy(() -> new RequestDecoder(false).decode(ByteBuffer.wrap(Bytes.hex(EXTENDED_WRITE))))
                .isInstanceOf(ProtocolException.class);
    }
}

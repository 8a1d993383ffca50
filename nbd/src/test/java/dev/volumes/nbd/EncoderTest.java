package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Golden bytes of what the server sends (the worked examples in docs/nbd.md). */
class EncoderTest {

    @Test
    void greeting() {
        assertThat(Bytes.hex(HandshakeEncoder.greeting())).isEqualTo("4e42444d41474943" + "49484156454f5054" + "0003");
    }

    @Test
    void infoExportAndAck() {
        assertThat(Bytes.hex(HandshakeEncoder.infoExport(Wire.OPT_GO, 1L << 30, 0x0ded)))
                .isEqualTo("0003e889045565a9" + "00000007" + "00000003" + "0000000c" + "0000" + "0000000040000000" + "0ded");
        assertThat(Bytes.hex(HandshakeEncoder.ack(Wire.OPT_GO)))
                .isEqualTo("0003e889045565a9" + "00000007" + "00000001" + "00000000");
    }

    @Test
    void errorReplyCarriesTheMessage() {
        assertThat(Bytes.hex(HandshakeEncoder.error(4, Wire.REP_ERR_UNSUP, "no")))
                .isEqualTo("0003e889045565a9" + "00000004" + "80000001" + "00000002" + "6e6f");
    }

    @Test
    void exportNameReplyWithAndWithoutZeroes() {
        assertThat(HandshakeEncoder.exportNameReply(512, 1, true).remaining()).isEqualTo(10);
        assertThat(HandshakeEncoder.exportNameReply(512, 1, false).remaining()).isEqualTo(134);
        assertThat(Bytes.hex(HandshakeEncoder.exportNameReply(512, 1, true))).isEqualTo("0000000000000200" + "0001");
    }

    @Test
    void simpleStructuredAndExtendedReplies() {
        long cookie = 0x0102030405060708L;
        assertThat(Bytes.hex(ReplyEncoder.simple(cookie, Wire.ENOSPC))).isEqualTo("67446698" + "0000001c" + "0102030405060708");
        ReplyEncoder structured = new ReplyEncoder(ReplyEncoder.Style.STRUCTURED);
        assertThat(Bytes.hex(structured.offsetHole(1, cookie, 0, 4096, 8192)))
                .isEqualTo("668e33ef" + "0001" + "0002" + "0102030405060708" + "0000000c" + "0000000000001000" + "00002000");
        assertThat(Bytes.hex(structured.error(cookie, 0, Wire.EINVAL, "bad")))
                .isEqualTo("668e33ef" + "0001" + "8001" + "0102030405060708" + "00000009" + "00000016" + "0003" + "626164");
        assertThat(Bytes.hex(structured.blockStatus(1, cookie, 0, 1,
                List.of(new ReplyEncoder.Descriptor(4096, 0), new ReplyEncoder.Descriptor(8192, 3)))))
                .isEqualTo("668e33ef" + "0001" + "0005" + "0102030405060708" + "00000014" + "00000001"
                        + "00001000" + "00000000" + "00002000" + "00000003");
        ReplyEncoder extended = new ReplyEncoder(ReplyEncoder.Style.EXTENDED);
        assertThat(Bytes.hex(extended.ok(cookie, 4096)))
                .isEqualTo("6e8a278c" + "0001" + "0000" + "0102030405060708" + "0000000000001000" + "0000000000000000");
        assertThat(Bytes.hex(extended.offsetDataHeader(1, cookie, 4096, 4096, 512)))
                .isEqualTo("6e8a278c" + "0001" + "0001" + "0102030405060708" + "0000000000001000" + "0000000000000208"
                        + "0000000000001000");
        assertThat(Bytes.hex(extended.blockStatus(1, cookie, 0, 1, List.of(new ReplyEncoder.Descriptor(1L << 33, 3)))))
                .isEqualTo("6e8a278c" + "0001" + "0006" + "0102030405060708" + "0000000000000000" + "0000000000000018"
                        + "00000001" + "00000001" + "0000000200000000" + "0000000000000003");
    }
}

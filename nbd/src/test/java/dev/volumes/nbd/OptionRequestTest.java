package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptionRequestTest {

    private static OptionRequest parse(int option, byte[] data) {
        return OptionRequest.parse(new OptionDecoder.RawOption(option, data));
    }

    @Test
    void setMetaContextWithTwoQueries() {
        byte[] data = Bytes.hex("00000004 6469736b 00000002 0000000f 626173653a616c6c6f636174696f6e 00000005 626173653a");
        assertThat(parse(Wire.OPT_SET_META_CONTEXT, data))
                .isEqualTo(new OptionRequest.MetaContext(true, "disk", List.of("base:allocation", "base:")));
    }

    @Test
    void truncatedOrInconsistentDataIsInvalidNotAnException() {
        assertThat(parse(Wire.OPT_GO, Bytes.hex("00000010 6469"))).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_GO, Bytes.hex("00000000 0002 0003"))).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_INFO, Bytes.hex("000000"))).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_LIST_META_CONTEXT, Bytes.hex("00000000 ffffffff"))).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_SET_META_CONTEXT, Bytes.hex("00000000 00000001 00000009 61")))
                .isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_LIST, new byte[1])).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_STARTTLS, new byte[1])).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_STRUCTURED_REPLY, new byte[3])).isInstanceOf(OptionRequest.Invalid.class);
    }

    @Test
    void invalidUtf8AndNulInNamesAreInvalid() {
        assertThat(parse(Wire.OPT_GO, Bytes.hex("00000001 ff 0000"))).isInstanceOf(OptionRequest.Invalid.class);
        assertThat(parse(Wire.OPT_EXPORT_NAME, Bytes.hex("6100"))).isInstanceOf(OptionRequest.Invalid.class);
    }

    @Test
    void abortIgnoresDataAndUnknownOptionsAreReportedAsUnknown() {
        assertThat(parse(Wire.OPT_ABORT, new byte[5])).isEqualTo(new OptionRequest.Abort());
        assertThat(parse(4, new byte[0])).isEqualTo(new OptionRequest.Unknown(4));
        assertThat(parse(0x7fffffff, new byte[2])).isEqualTo(new OptionRequest.Unknown(0x7fffffff));
    }

    @Test
    void randomBytesNeverThrow() {
        java.util.Random random = dev.volumes.testkit.Seeds.random("OptionRequestTest.randomBytesNeverThrow");
        for (int i = 0; i < dev.volumes.testkit.Seeds.scaled(20_000); i++) {
            byte[] data = new byte[random.nextInt(40)];
            random.nextBytes(data);
            if (data.length >= 4 && random.nextBoolean()) {
                ByteBuffer.wrap(data).putInt(random.nextInt(data.length));
            }
            OptionRequest r = parse(1 + random.nextInt(12), data);
            assertThat(r).isNotNull();
        }
    }
}

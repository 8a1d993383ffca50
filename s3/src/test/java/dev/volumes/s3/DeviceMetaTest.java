package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The metadata object format, against the worked example in docs/s3.md. */
class DeviceMetaTest {

    static final String WORKED_EXAMPLE = "volumes-s3-device\n" + "format=1\n" + "size=1073741824\n"
            + "chunk-size=1048576\n" + "epoch=3\n" + "writer=0123456789abcdef01234567\n" + "crc32c=3a70caf0\n";

    @Test
    void workedExampleFromTheDocsEncodesAndDecodesByteForByte() throws IOException {
        DeviceMeta m = new DeviceMeta(1L << 30, 1 << 20, 3, "0123456789abcdef01234567");
        assertThat(new String(m.encode(), StandardCharsets.UTF_8)).isEqualTo(WORKED_EXAMPLE);
        assertThat(DeviceMeta.decode(WORKED_EXAMPLE.getBytes(StandardCharsets.UTF_8), "x")).isEqualTo(m);
    }

    @Test
    void corruptionAndUnknownFormatsAreReportedWithActualAndExpected() {
        byte[] flipped = WORKED_EXAMPLE.replace("epoch=3", "epoch=4").getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> DeviceMeta.decode(flipped, "s3://b/p/meta"))
                .isInstanceOf(IOException.class).hasMessageContaining("s3://b/p/meta").hasMessageContaining("3a70caf0");
        assertThatThrownBy(() -> DeviceMeta.decode("garbage".getBytes(StandardCharsets.UTF_8), "m"))
                .isInstanceOf(IOException.class).hasMessageContaining("not a volumes S3 device");
        byte[] v2 = new DeviceMeta(4096, 4096, 0, "-").encode();
        String text = new String(v2, StandardCharsets.UTF_8).replace("format=1", "format=2");
        assertThatThrownBy(() -> DeviceMeta.decode(text.getBytes(StandardCharsets.UTF_8), "m"))
                .isInstanceOf(IOException.class);
    }

    @Test
    void releasedMetadataNamesNoWriter() throws IOException {
        DeviceMeta m = new DeviceMeta(0, 4096, 9, DeviceMeta.NO_WRITER);
        assertThat(DeviceMeta.decode(m.encode(), "m").writer()).isEqualTo("-");
    }
}

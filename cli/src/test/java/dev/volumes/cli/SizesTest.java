package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SizesTest {

    @Test
    void parsesPlainBytesAndBinarySuffixes() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("512K")).isEqualTo(512L << 10);
        assertThat(Sizes.parse("512M")).isEqualTo(512L << 20);
        assertThat(Sizes.parse("10G")).isEqualTo(10L << 30);
        assertThat(Sizes.parse("10GiB")).isEqualTo(10L << 30);
        assertThat(Sizes.parse("10gb")).isEqualTo(10L << 30);
        assertThat(Sizes.parse("1T")).isEqualTo(1L << 40);
        assertThat(Sizes.parse("1.5G")).isEqualTo(3L << 29);
        assertThat(Sizes.parse(" 7b ")).isEqualTo(7);
    }

    @Test
    void rejectsGarbageWithAMessageThatShowsTheAcceptedForms() {
        for (String bad : new String[] {"", "ten", "10X", "-1G", "1.5", "G", "10 GiBs"}) {
            assertThatThrownBy(() -> Sizes.parse(bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("size");
        }
        assertThatThrownBy(() -> Sizes.parse("99999999999E")).hasMessageContaining("too large");
    }

    @Test
    void formatsInTheLargestUnit() {
        assertThat(Sizes.format(0)).isEqualTo("0 B");
        assertThat(Sizes.format(1023)).isEqualTo("1023 B");
        assertThat(Sizes.format(1024)).isEqualTo("1 KiB");
        assertThat(Sizes.format(3L << 29)).isEqualTo("1.5 GiB");
        assertThat(Sizes.format(10L << 30)).isEqualTo("10 GiB");
        assertThat(Sizes.format(Long.MAX_VALUE)).endsWith("EiB");
    }
}

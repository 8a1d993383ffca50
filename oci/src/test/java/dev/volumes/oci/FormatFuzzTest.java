package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded mutation fuzzing of everything that parses bytes from a registry: the manifest and config
 * decoders and the WWW-Authenticate parser. Any input either decodes or fails with an
 * {@link IOException} naming the image; nothing else escapes. (A Jazzer harness would explore
 * further; this runs in every build.)
 */
class FormatFuzzTest {

    private static final String[] TOKENS = {"null", "[]", "{}", "-1", "1e999", "\"sha256:\"", "\"\"", "true",
            "99999999999999999999", ",", ":", "\"chunks\"", "\"layers\"", "\"size\"", "0.5"};

    private static byte[] mutate(byte[] seed, Random rnd) {
        byte[] b = seed.clone();
        int edits = 1 + rnd.nextInt(4);
        for (int e = 0; e < edits; e++) {
            switch (rnd.nextInt(4)) {
                case 0 -> b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                case 1 -> b = Arrays.copyOf(b, rnd.nextInt(b.length + 1));
                case 2 -> {
                    if (b.length > 0) {
                        int at = rnd.nextInt(b.length);
                        byte[] t = TOKENS[rnd.nextInt(TOKENS.length)].getBytes(StandardCharsets.UTF_8);
                        byte[] out = new byte[b.length + t.length];
                        System.arraycopy(b, 0, out, 0, at);
                        System.arraycopy(t, 0, out, at, t.length);
                        System.arraycopy(b, at, out, at + t.length, b.length - at);
                        b = out;
                    }
                }
                default -> {
                    if (b.length > 2) {
                        int at = rnd.nextInt(b.length - 1);
                        int len = 1 + rnd.nextInt(Math.min(40, b.length - at));
                        byte[] out = new byte[b.length - len];
                        System.arraycopy(b, 0, out, 0, at);
                        System.arraycopy(b, at + len, out, at, b.length - at - len);
                        b = out;
                    }
                }
            }
            if (b.length == 0) {
                break;
            }
        }
        return b;
    }

    @Test
    void mutatedManifestsAndConfigsDecodeOrFailWithIoException() {
        String test = "FormatFuzzTest.mutatedManifestsAndConfigsDecodeOrFailWithIoException";
        Random rnd = Seeds.random(test);
        byte[] config = ImageFormat.encodeConfig(ImageFormatTest.exampleConfig());
        byte[] manifest = ImageFormatTest.exampleManifest(config);
        int runs = Seeds.scaled(3000);
        int decoded = 0;
        for (int i = 0; i < runs; i++) {
            byte[] c = mutate(config, rnd);
            byte[] m = mutate(manifest, rnd);
            try {
                ImageConfig ic = ImageFormat.decodeConfig(c, "fuzz");
                decoded++;
                ImageFormat.ParsedManifest pm = ImageFormat.decodeManifest(m, "fuzz");
                ImageFormat.checkConsistent(ic, pm, "fuzz");
            } catch (IOException expected) {
                assertThat(expected.getMessage()).contains("fuzz");
            } catch (RuntimeException e) {
                fail("input escaped as " + e + "\nconfig: " + new String(c, StandardCharsets.UTF_8) + "\nmanifest: "
                        + new String(m, StandardCharsets.UTF_8) + "\n" + Seeds.reproduceWith(test), e);
            }
        }
        assertThat(decoded).as("some mutations still decode").isPositive();
    }

    @Test
    void randomChallengesNeverThrow() {
        String test = "FormatFuzzTest.randomChallengesNeverThrow";
        Random rnd = Seeds.random(test);
        String seed = "Bearer realm=\"https://a/t\",service=\"s\",scope=\"repository:r:pull,push\"";
        for (int i = 0; i < Seeds.scaled(3000); i++) {
            String s = new String(mutate(seed.getBytes(StandardCharsets.UTF_8), rnd), StandardCharsets.UTF_8);
            try {
                Challenge.parse(s);
            } catch (RuntimeException e) {
                fail("challenge " + s + " threw " + e + "\n" + Seeds.reproduceWith(test), e);
            }
        }
    }
}

package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The image format's exact bytes, checked against the worked example in docs/oci.md. */
class ImageFormatTest {

    /** The worked example: 14000 bytes in 4 KiB chunks: A, hole, A again, and a 1712-byte tail of B. */
    static ImageConfig exampleConfig() {
        byte[] a = new byte[4096];
        Arrays.fill(a, (byte) 'A');
        byte[] b = new byte[14000 - 3 * 4096];
        Arrays.fill(b, (byte) 'B');
        Digest da = Digest.sha256(a);
        return new ImageConfig(14000, 4096, Arrays.asList(da, null, da, Digest.sha256(b)));
    }

    static byte[] exampleManifest(byte[] config) {
        Map<String, String> annotations = new TreeMap<>();
        annotations.put(ImageFormat.CREATED, "2026-01-02T03:04:05Z");
        annotations.put(ImageFormat.SOURCE, "example");
        return ImageFormat.encodeManifest(exampleConfig(),
                Descriptor.of(ImageFormat.CONFIG_MEDIA_TYPE, Digest.sha256(config), config.length), annotations);
    }

    private static String docBlock(String marker) throws IOException {
        String doc = Files.readString(Path.of(System.getProperty("user.dir")).resolve("../docs/oci.md"));
        int at = doc.indexOf("<!-- " + marker + " -->");
        assertThat(at).as("marker %s in docs/oci.md", marker).isGreaterThanOrEqualTo(0);
        int start = doc.indexOf("```", at);
        start = doc.indexOf('\n', start) + 1;
        int end = doc.indexOf("\n```", start);
        return doc.substring(start, end);
    }

    @Test
    void workedExampleBytesMatchTheDocumentation() throws IOException {
        byte[] config = ImageFormat.encodeConfig(exampleConfig());
        byte[] manifest = exampleManifest(config);
        System.out.println(new String(config, StandardCharsets.UTF_8));
        System.out.println("config " + Digest.sha256(config) + " " + config.length);
        System.out.println(new String(manifest, StandardCharsets.UTF_8));
        System.out.println("manifest " + Digest.sha256(manifest) + " " + manifest.length);
        assertThat(docBlock("example:config")).isEqualTo(new String(config, StandardCharsets.UTF_8));
        assertThat(docBlock("example:manifest")).isEqualTo(new String(manifest, StandardCharsets.UTF_8));
        assertThat(docBlock("example:digests")).isEqualTo("config   " + Digest.sha256(config) + " (" + config.length
                + " bytes)\nmanifest " + Digest.sha256(manifest) + " (" + manifest.length + " bytes)");
    }

    @Test
    void decodeRoundTripsAndChecksConsistency() throws IOException {
        byte[] config = ImageFormat.encodeConfig(exampleConfig());
        assertThat(ImageFormat.decodeConfig(config, "t")).isEqualTo(exampleConfig());
        ImageFormat.ParsedManifest m = ImageFormat.decodeManifest(exampleManifest(config), "t");
        assertThat(m.layers()).hasSize(2);
        assertThat(m.layers().get(1).size()).isEqualTo(1712);
        assertThat(m.annotations()).containsEntry(ImageFormat.SOURCE, "example");
        ImageFormat.checkConsistent(exampleConfig(), m, "t");
        ImageFormat.ParsedManifest missing = new ImageFormat.ParsedManifest(m.config(), List.of(m.layers().get(0)), Map.of());
        assertThatThrownBy(() -> ImageFormat.checkConsistent(exampleConfig(), missing, "img"))
                .hasMessageContaining("chunk 3");
    }

    @Test
    void emptyImageHasAnEmptyLayersArrayNeverNull() {
        ImageConfig empty = new ImageConfig(8192, 4096, Arrays.asList(null, null));
        byte[] config = ImageFormat.encodeConfig(empty);
        String manifest = new String(ImageFormat.encodeManifest(empty,
                Descriptor.of(ImageFormat.CONFIG_MEDIA_TYPE, Digest.sha256(config), config.length), Map.of()),
                StandardCharsets.UTF_8);
        assertThat(manifest).contains("\"layers\":[]").doesNotContain("null");
        assertThat(new String(config, StandardCharsets.UTF_8)).isEqualTo("{\"version\":1,\"size\":8192,\"chunkSize\":4096,\"chunks\":[null,null]}");
        assertThat(new String(ImageFormat.encodeConfig(new ImageConfig(0, 4096, List.of())), StandardCharsets.UTF_8))
                .isEqualTo("{\"version\":1,\"size\":0,\"chunkSize\":4096,\"chunks\":[]}");
    }

    @Test
    void invalidConfigsAndManifestsAreRefusedWithTheReason() {
        assertThatThrownBy(() -> ImageFormat.decodeConfig("{\"version\":1,\"size\":8192,\"chunkSize\":4096,\"chunks\":[null]}"
                .getBytes(StandardCharsets.UTF_8), "img")).hasMessageContaining("needs 2 chunk entries, has 1");
        assertThatThrownBy(() -> ImageFormat.decodeConfig("{\"version\":1,\"size\":8192,\"chunkSize\":3000,\"chunks\":[null,null]}"
                .getBytes(StandardCharsets.UTF_8), "img")).hasMessageContaining("power of two");
        assertThatThrownBy(() -> ImageFormat.decodeConfig("{\"version\":1,\"size\":-1,\"chunkSize\":4096,\"chunks\":[]}"
                .getBytes(StandardCharsets.UTF_8), "img")).hasMessageContaining("negative");
        assertThatThrownBy(() -> ImageFormat.decodeConfig("{\"version\":2}".getBytes(StandardCharsets.UTF_8), "img"))
                .hasMessageContaining("version");
        assertThatThrownBy(() -> ImageFormat.decodeConfig("{\"version\":1,\"size\":4096,\"chunkSize\":4096,\"chunks\":[\"md5:x\"]}"
                .getBytes(StandardCharsets.UTF_8), "img")).hasMessageContaining("chunk entry 0");
        assertThatThrownBy(() -> ImageFormat.decodeConfig("not json".getBytes(StandardCharsets.UTF_8), "img"))
                .hasMessageContaining("not valid JSON");
        String other = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + Digest.EMPTY
                + "\",\"size\":0},\"layers\":[]}";
        assertThatThrownBy(() -> ImageFormat.decodeManifest(other.getBytes(StandardCharsets.UTF_8), "img"))
                .hasMessageContaining("not a volumes image");
        String nullLayers = "{\"schemaVersion\":2,\"artifactType\":\"" + ImageFormat.ARTIFACT_TYPE + "\",\"config\":"
                + "{\"mediaType\":\"" + ImageFormat.CONFIG_MEDIA_TYPE + "\",\"digest\":\"" + Digest.EMPTY + "\",\"size\":0},\"layers\":null}";
        assertThatThrownBy(() -> ImageFormat.decodeManifest(nullLayers.getBytes(StandardCharsets.UTF_8), "img"))
                .hasMessageContaining("layers is not an array");
    }
}

package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** skopeo, an independent OCI client, reads and copies our artifacts: proof they are standard OCI. */
class SkopeoIT {

    @TempDir
    Path tmp;

    private static String skopeo(Path exe, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(exe.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("skopeo %s failed:%n%s", String.join(" ", args), out).isZero();
        return out;
    }

    @Test
    void skopeoInspectsAndCopiesOurArtifactToAnOciLayoutAndBack() throws Exception {
        Path skopeo = Peers.require("skopeo", "skopeo");
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            FreezeResult frozen = OciImages.freeze(RegistryAuthIT.sample(9), client, ImageRef.parse("vols/sk:v1"),
                    RegistryAuthIT.options());
            String host = "127.0.0.1:" + reg.port();
            ObjectMapper json = new ObjectMapper();

            JsonNode raw = json.readTree(skopeo(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://" + host + "/vols/sk:v1"));
            assertThat(raw.path("artifactType").asText()).isEqualTo(ImageFormat.ARTIFACT_TYPE);
            assertThat(raw.path("layers").size()).isEqualTo(4);
            JsonNode config = json.readTree(skopeo(skopeo, "inspect", "--raw", "--config", "--tls-verify=false",
                    "docker://" + host + "/vols/sk:v1"));
            assertThat(config.path("chunkSize").asInt()).isEqualTo(RegistryAuthIT.CS);
            JsonNode tags = json.readTree(skopeo(skopeo, "list-tags", "--tls-verify=false", "docker://" + host + "/vols/sk"));
            assertThat(tags.path("Tags").toString()).contains("v1");

            Path layout = tmp.resolve("layout");
            skopeo(skopeo, "copy", "--src-tls-verify=false", "docker://" + host + "/vols/sk:v1", "oci:" + layout + ":v1");
            assertThat(layout.resolve("index.json")).exists();
            assertThat(layout.resolve("blobs/sha256/" + Digest.of(frozen.ref().reference()).hex()))
                    .as("the manifest is copied byte for byte").exists();
            skopeo(skopeo, "copy", "--dest-tls-verify=false", "oci:" + layout + ":v1", "docker://" + host + "/copies/sk:back");

            assertThat(client.headManifest(ImageRef.parse("copies/sk:back")).orElseThrow().digest().value())
                    .isEqualTo(frozen.ref().reference());
            try (ImageDevice back = ImageDevice.open(client, ImageRef.parse("copies/sk:back"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(back)).isEqualTo(RegistryAuthIT.all(RegistryAuthIT.sample(9)));
            }
            String plain = runUnchecked(skopeo, "inspect", "--tls-verify=false", "docker://" + host + "/vols/sk:v1");
            // Plain `inspect` decodes an *image* config; skopeo refuses that, by design, for every
            // non-image artifact, and says so: it recognised a well-formed OCI artifact.
            System.out.println("skopeo inspect (without --raw) said: " + plain.strip());
            assertThat(plain).contains("unsupported image-specific operation on artifact")
                    .contains(ImageFormat.CONFIG_MEDIA_TYPE);
        }
    }

    private static String runUnchecked(Path exe, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(exe.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(120, TimeUnit.SECONDS);
        return "exit " + p.exitValue() + ": " + out;
    }
}

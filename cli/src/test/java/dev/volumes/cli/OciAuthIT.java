package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Registry credentials come from {@code $HOME/.docker/config.json}, as docker and skopeo store
 * them: against a docker-registry with htpasswd auth, a freeze without the file is refused in one
 * line naming the registry and never the secret; with it, freeze and tags work.
 */
class OciAuthIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void credentialsFromDockerConfigInHome() throws Exception {
        try (PeerServices registry = PeerServices.registryWithPassword(dir.resolve("registry"), "alice", "s3cret-pw")) {
            String host = "127.0.0.1:" + registry.port;
            Path data = dir.resolve("data");
            Launcher.run(data, "pool", "create", "--size", "64M").ok();
            Launcher.run(data, "volume", "create", "v", "1M").ok();

            Path empty = Files.createDirectories(dir.resolve("empty-home"));
            Launcher.Result refused = Launcher.run(Map.of("HOME", empty.toString()), data, "oci", "freeze", "v",
                    host + "/team/v:1");
            assertThat(refused.exit()).isEqualTo(1);
            assertThat(refused.err().lines().count()).isEqualTo(1);
            assertThat(refused.err()).startsWith("volumes: error: ").contains("401");

            Path home = Files.createDirectories(dir.resolve("home/.docker")).getParent();
            String auth = Base64.getEncoder().encodeToString("alice:s3cret-pw".getBytes(StandardCharsets.UTF_8));
            Files.writeString(home.resolve(".docker/config.json"), "{\"auths\":{\"" + host + "\":{\"auth\":\"" + auth + "\"}}}");
            Map<String, String> env = Map.of("HOME", home.toString());
            JsonNode frozen = JSON.readTree(Launcher.run(env, data, "oci", "freeze", "v", host + "/team/v:1", "--json")
                    .ok().out());
            assertThat(frozen.get("digest").asText()).startsWith("sha256:");
            assertThat(Launcher.run(env, data, "oci", "tags", host + "/team/v").ok().out()).contains("1");

            Files.writeString(home.resolve(".docker/config.json"), "{\"auths\":{\"" + host + "\":{\"auth\":\""
                    + Base64.getEncoder().encodeToString("alice:wrong-pw".getBytes(StandardCharsets.UTF_8)) + "\"}}}");
            Launcher.Result wrong = Launcher.run(env, data, "oci", "tags", host + "/team/v");
            assertThat(wrong.exit()).isEqualTo(1);
            assertThat(wrong.err()).contains("alice").doesNotContain("wrong-pw").doesNotContain("s3cret");
        }
    }
}

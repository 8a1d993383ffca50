package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DockerConfigTest {

    @TempDir
    Path home;

    private void config(String json) throws IOException {
        Files.createDirectories(home.resolve(".docker"));
        Files.writeString(home.resolve(".docker/config.json"), json);
    }

    private Path helper(String name, String script) throws IOException {
        Path dir = home.resolve("bin");
        Files.createDirectories(dir);
        Path p = dir.resolve("docker-credential-" + name);
        Files.writeString(p, "#!/bin/sh\n" + script);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return dir;
    }

    @Test
    void authsEntryMatchesTheHostWhateverItsSpelling() throws IOException {
        String auth = Base64.getEncoder().encodeToString("user:pa:ss".getBytes());
        config("{\"auths\":{\"https://reg.example:5000/v1/\":{\"auth\":\"" + auth + "\"},\"other\":{\"username\":\"o\",\"password\":\"p\"}}}");
        DockerConfig c = new DockerConfig(home, List.of());
        assertThat(c.lookup("reg.example:5000")).contains(new Credentials("user", "pa:ss"));
        assertThat(c.lookup("other")).contains(new Credentials("o", "p"));
        assertThat(c.lookup("nowhere")).isEmpty();
    }

    @Test
    void credHelperIsRunWithTheHostOnStdin() throws IOException {
        Path dir = helper("test", "read host; [ \"$1\" = get ] && [ \"$host\" = reg.example ] && "
                + "echo '{\"ServerURL\":\"reg.example\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}' && exit 0; exit 1\n");
        config("{\"credHelpers\":{\"reg.example\":\"test\"},\"auths\":{\"reg.example\":{\"auth\":\""
                + Base64.getEncoder().encodeToString("ignored:x".getBytes()) + "\"}}}");
        assertThat(new DockerConfig(home, List.of(dir)).lookup("reg.example")).contains(new Credentials("helper-user", "helper-secret"));
    }

    @Test
    void credsStoreFallsBackToAuthsWhenItKnowsNothingAndMissingHelpersAreIgnored() throws IOException {
        Path dir = helper("store", "echo 'credentials not found in native keychain'; exit 1\n");
        String auth = Base64.getEncoder().encodeToString("a:b".getBytes());
        config("{\"credsStore\":\"store\",\"auths\":{\"reg.example\":{\"auth\":\"" + auth + "\"}}}");
        assertThat(new DockerConfig(home, List.of(dir)).lookup("reg.example")).contains(new Credentials("a", "b"));
        config("{\"credHelpers\":{\"reg.example\":\"absent\"}}");
        assertThat(new DockerConfig(home, List.of(dir)).lookup("reg.example")).isEmpty();
    }

    @Test
    void malformedConfigsAreClearErrorsWithoutSecrets() throws IOException {
        config("{\"auths\":{\"reg.example\":{\"auth\":\"bm9jb2xvbg==\"}}}"); // "nocolon"
        assertThatThrownBy(() -> new DockerConfig(home, List.of()).lookup("reg.example"))
                .hasMessageContaining("not base64 of user:password");
        config("{not json");
        assertThatThrownBy(() -> new DockerConfig(home, List.of()).lookup("reg.example"))
                .hasMessageContaining("cannot parse docker config");
        assertThat(new DockerConfig(home.resolve("none"), List.of()).lookup("reg.example")).isEmpty();
    }
}

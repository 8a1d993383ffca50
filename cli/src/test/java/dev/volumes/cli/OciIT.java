package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code volumes oci ...} against Debian's docker-registry: a served volume written by nbdcopy is
 * frozen (through an automatic snapshot), pulled back into the pool as a new volume, attached as a lazily read, writable export that nbdcopy
 * reads back and changes, committed as a new tag and detached; tags are listed and pruned by
 * retention; and the whole pool, frozen with {@code freeze-pool}, is opened read-only elsewhere
 * with {@code pool create --backing oci://...} and served.
 */
class OciIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void freezeAttachCommitDetachTagsRetainAndPoolFromImage() throws Exception {
        Peers.require("nbdcopy", "libnbd-bin");
        try (PeerServices registry = PeerServices.registry(dir.resolve("registry"))) {
            String repo = "127.0.0.1:" + registry.port + "/team/disk";
            Path data = dir.resolve("data");
            byte[] bytes = new byte[5 << 20];
            Random random = Seeds.random("OciIT");
            random.nextBytes(bytes);
            Path source = dir.resolve("source.img");
            Files.write(source, bytes);
            Launcher.run(data, "pool", "create", "--size", "256M").ok();
            Launcher.run(data, "volume", "create", "disk", "12M").ok();

            try (Launcher.Daemon daemon = Launcher.Daemon.start(data)) {
                PeerRun.of(120, "nbdcopy", "--flush", source.toString(), daemon.uri("disk")).ok();

                Launcher.Result frozen = Launcher.run(data, "oci", "freeze", "disk", "oci://" + repo + ":v1", "--json").ok();
                JsonNode v1 = JSON.readTree(frozen.out());
                assertThat(v1.get("image").asText()).isEqualTo("oci://" + repo + ":v1");
                assertThat(v1.get("digest").asText()).startsWith("sha256:");
                assertThat(v1.get("source").asText()).startsWith("disk@oci-");
                assertThat(v1.get("size").asLong()).isEqualTo(12L << 20);
                assertThat(v1.get("dataChunks").asLong()).isEqualTo(2);
                assertThat(v1.get("holeChunks").asLong()).isEqualTo(1);
                assertThat(frozen.err()).as("no progress under --json").isEmpty();

                Launcher.Result plain = Launcher.run(data, "oci", "freeze", v1.get("source").asText(), repo + ":v1b");
                plain.ok();
                assertThat(plain.err()).as("one summary line when stderr is not a terminal")
                        .startsWith("freeze disk@oci-").contains("pushed oci://" + repo + ":v1b@sha256:");
                assertThat(plain.err().lines().count()).isEqualTo(1);
                assertThat(plain.out()).contains("2 data, 1 holes");

                JsonNode pulled = JSON.readTree(Launcher.run(data, "oci", "pull", repo + ":v1", "pulled", "--json")
                        .ok().out());
                assertThat(pulled.get("export").asText()).isEqualTo("pulled");
                assertThat(pulled.get("allocatedBytes").asLong()).isLessThanOrEqualTo(8L << 20);
                Path pulledFile = dir.resolve("pulled.img");
                PeerRun.of(120, "nbdcopy", daemon.uri("pulled"), pulledFile.toString()).ok();
                assertThat(Arrays.copyOf(Files.readAllBytes(pulledFile), bytes.length)).isEqualTo(bytes);
                CommandsIT.assertOneLineError(Launcher.run(data, "oci", "pull", repo + ":missing", "nothing"), 3, "missing");
                CommandsIT.assertOneLineError(Launcher.run(data, "oci", "pull", repo + ":v1", "pulled"), 4, "'pulled'");

                JsonNode attached = JSON.readTree(Launcher.run(data, "oci", "attach", repo + ":v1", "img", "--json")
                        .ok().out());
                assertThat(attached.get("kind").asText()).isEqualTo("overlay");
                assertThat(attached.get("export").asText()).isEqualTo("img");
                Path back = dir.resolve("back.img");
                PeerRun.of(120, "nbdcopy", daemon.uri("img"), back.toString()).ok();
                assertThat(Arrays.copyOf(Files.readAllBytes(back), bytes.length)).isEqualTo(bytes);

                byte[] patch = new byte[1 << 20];
                random.nextBytes(patch);
                Path patchFile = dir.resolve("patch.img");
                Files.write(patchFile, patch);
                PeerRun.of(120, "nbdcopy", "--flush", patchFile.toString(), daemon.uri("img")).ok();
                JsonNode v2 = JSON.readTree(Launcher.run(data, "oci", "commit", "img", repo + ":v2", "--json").ok().out());
                assertThat(v2.get("blobsUploaded").asLong()).isEqualTo(1);
                CommandsIT.assertOneLineError(Launcher.run(data, "oci", "attach", repo + ":v1", "img"), 4, "'img'");
                CommandsIT.assertOneLineError(Launcher.run(data, "oci", "attach", repo + ":v1", "disk"), 4, "'disk'");
                assertThat(JSON.readTree(Launcher.run(data, "volume", "list", "--json").ok().out())
                        .findValuesAsText("name")).contains("img", "disk");
                Launcher.run(data, "oci", "detach", "img", "--discard").ok();
                assertThat(Files.exists(data.resolve("overlays/img"))).isFalse();
                CommandsIT.assertOneLineError(Launcher.run(data, "oci", "detach", "img"), 3, "'img'");

                // An image left attached is resumed, with its unsynced-at-stop writes, by the next daemon.
                Launcher.run(data, "oci", "attach", repo + ":v1", "keep").ok();
                PeerRun.of(60, "nbdsh", "-u", daemon.uri("keep"), "-c", "h.pwrite(b'\\x07' * 65536, 0)").ok();
                daemon.stop();
            }
            CommandsIT.assertOneLineError(Launcher.run(data, "oci", "attach", repo + ":v1", "x"), 1, "volumes serve");
            try (Launcher.Daemon daemon = Launcher.Daemon.start(data)) {
                assertThat(daemon.output()).contains("export keep");
                Path kept = dir.resolve("kept.img");
                PeerRun.of(120, "nbdcopy", daemon.uri("keep"), kept.toString()).ok();
                byte[] expected = bytes.clone();
                Arrays.fill(expected, 0, 65536, (byte) 7);
                assertThat(Arrays.copyOf(Files.readAllBytes(kept), bytes.length)).isEqualTo(expected);
                Launcher.run(data, "oci", "detach", "keep", "--discard").ok();
                daemon.stop();
            }

            JsonNode tags = JSON.readTree(Launcher.run(data, "oci", "tags", repo, "--json").ok().out());
            assertThat(tags.findValuesAsText("tag")).containsExactlyInAnyOrder("v1", "v1b", "v2");
            JsonNode retained = JSON.readTree(Launcher.run(data, "oci", "retain", repo, "--keep", "v2", "--json")
                    .ok().out());
            assertThat(retained.get("kept")).hasSize(1);
            assertThat(retained.get("removed")).hasSize(2);
            assertThat(Launcher.run(data, "oci", "tags", repo).ok().out()).contains("v2").doesNotContain("v1");

            // The whole pool as an image, opened read-only elsewhere.
            Launcher.run(data, "oci", "freeze-pool", repo + ":pool").ok();
            Path elsewhere = dir.resolve("elsewhere");
            JsonNode pool = JSON.readTree(Launcher.run(elsewhere, "pool", "create", "--backing", "oci://" + repo + ":pool",
                    "--json").ok().out());
            assertThat(pool.get("volumes").asInt()).as("disk, its freeze snapshot and pulled").isEqualTo(3);
            CommandsIT.assertOneLineError(Launcher.run(elsewhere, "volume", "create", "new", "1M"), 7, "read-only");
            try (Launcher.Daemon daemon = Launcher.Daemon.start(elsewhere)) {
                Path copy = dir.resolve("copy.img");
                PeerRun.of(120, "nbdcopy", daemon.uri("disk"), copy.toString()).ok();
                assertThat(Arrays.copyOf(Files.readAllBytes(copy), bytes.length)).isEqualTo(bytes);
            }
        }
    }
}

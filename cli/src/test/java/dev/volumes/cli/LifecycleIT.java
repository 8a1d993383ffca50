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
 * The lifecycle commands run as subprocesses, both on the pool directly and through a running
 * daemon: import and export round-trip bytes (with progress: one summary line on a non-terminal,
 * nothing under --json); diff reports exactly the range nbdsh rewrote; resize shows in a new
 * nbdinfo; delete removes the export first; snapshot delete refuses volumes; pool grow and repair;
 * and the documented exit codes for the error cases.
 */
class LifecycleIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void importExportDiffResizeDeleteGrowRepairWithAndWithoutDaemon() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("nbdsh", "libnbd-bin");
        Path data = dir.resolve("data");
        Random random = Seeds.random("LifecycleIT");
        byte[] bytes = new byte[(3 << 20) + 12345];
        random.nextBytes(bytes);
        Arrays.fill(bytes, 1 << 20, 2 << 20, (byte) 0); // a zero MiB: not stored
        Path image = dir.resolve("in.img");
        Files.write(image, bytes);

        Launcher.run(data, "pool", "create", "--size", "256M", "--block-size", "64K").ok();
        Launcher.Result imported = Launcher.run(data, "import", image.toString(), "db").ok();
        assertThat(imported.err().lines().toList()).singleElement().asString().startsWith("import db: imported ");
        JsonNode db = JSON.readTree(Launcher.run(data, "volume", "info", "db", "--json").ok().out());
        assertThat(db.get("size").asLong()).isEqualTo(bytes.length);
        assertThat(db.get("usage").get("mappedBytes").asLong()).isLessThan(bytes.length - (1 << 20) + (1 << 16));
        assertThat(db.get("usage").get("exclusiveBytes").asLong()).isEqualTo(db.get("usage").get("mappedBytes").asLong());
        Launcher.run(data, "snapshot", "create", "db", "db@1").ok();
        assertThat(JSON.readTree(Launcher.run(data, "volume", "info", "db", "--json").ok().out())
                .get("usage").get("sharedBytes").asLong()).isEqualTo(db.get("usage").get("mappedBytes").asLong());

        Launcher.Result barred = Launcher.run(java.util.Map.of("VOLUMES_PROGRESS", "bar"), data, "export", "db@1",
                dir.resolve("bar.img").toString()).ok();
        assertThat(barred.err()).as("a bar redrawn in place, then cleared, then the summary")
                .contains("\rexport db@1  [", "%", "\r\u001b[Kexport db@1: wrote ");
        Launcher.Result exported = Launcher.run(data, "volume", "export", "db@1", dir.resolve("local.img").toString(), "--json").ok();
        assertThat(exported.err()).as("no progress under --json").isEmpty();
        assertThat(Files.readAllBytes(dir.resolve("local.img"))).isEqualTo(bytes);

        CommandsIT.assertOneLineError(Launcher.run(data, "export", "db", dir.resolve("local.img").toString()), 4, "never overwrites");
        CommandsIT.assertOneLineError(Launcher.run(data, "import", dir.resolve("nope.img").toString(), "x"), 3, "nope.img");
        CommandsIT.assertOneLineError(Launcher.run(data, "import", image.toString(), "db"), 4, "'db'");
        CommandsIT.assertOneLineError(Launcher.run(data, "volume", "resize", "db@1", "8M"), 7, "db@1");
        CommandsIT.assertOneLineError(Launcher.run(data, "volume", "delete", "ghost"), 3, "ghost");
        CommandsIT.assertOneLineError(Launcher.run(data, "snapshot", "delete", "db"), 2, "not a snapshot");
        CommandsIT.assertOneLineError(Launcher.run(data, "volume", "resize", "db", "12Q"), 2, "12Q");

        try (Launcher.Daemon daemon = Launcher.Daemon.start(data)) {
            // diff: nbdsh rewrites 64 KiB at 2 MiB of the live volume.
            PeerRun.of(60, "nbdsh", "-u", daemon.uri("db"), "-c", "h.pwrite(b'\\x07' * 65536, 2097152)", "-c", "h.flush()").ok();
            Launcher.run(data, "snapshot", "create", "db", "db@2").ok();
            JsonNode diff = JSON.readTree(Launcher.run(data, "diff", "db@1", "db@2", "--json").ok().out());
            assertThat(diff.get("changedBytes").asLong()).isEqualTo(65536);
            assertThat(diff.get("ranges")).hasSize(1);
            assertThat(diff.get("ranges").get(0).get("offset").asLong()).isEqualTo(2097152);
            String table = Launcher.run(data, "diff", "db@1", "db@2").ok().out();
            assertThat(table).startsWith("OFFSET").contains("2097152", "64 KiB", "1 range(s)");
            CommandsIT.assertOneLineError(Launcher.run(data, "diff", "db@1", "nope"), 3, "nope");

            // export of the live volume goes through a temporary snapshot, which is gone afterwards.
            Path live = dir.resolve("live.img");
            Launcher.run(data, "export", "db", live.toString()).ok();
            byte[] expected = bytes.clone();
            Arrays.fill(expected, 2097152, 2097152 + 65536, (byte) 7);
            assertThat(Files.readAllBytes(live)).isEqualTo(expected);
            assertThat(JSON.readTree(Launcher.run(data, "volume", "list", "--json").ok().out()).findValuesAsText("name"))
                    .containsExactlyInAnyOrder("db", "db@1", "db@2");

            // import through the daemon: exported at once.
            JsonNode copy = JSON.readTree(Launcher.run(data, "import", live.toString(), "copy", "--json").ok().out());
            assertThat(copy.get("export").asText()).isEqualTo("copy");
            Path back = dir.resolve("back.img");
            PeerRun.of(60, "nbdcopy", daemon.uri("copy"), back.toString()).ok();
            assertThat(Files.readAllBytes(back)).isEqualTo(expected);

            // resize online: a new connection sees the new size.
            Launcher.run(data, "volume", "resize", "copy", "8M").ok();
            JsonNode info = JSON.readTree(PeerRun.of(60, "nbdinfo", "--json", daemon.uri("copy")).ok().stdout());
            assertThat(info.get("exports").get(0).get("export-size").asLong()).isEqualTo(8L << 20);

            // delete removes the export first.
            Launcher.run(data, "volume", "delete", "copy").ok();
            assertThat(PeerRun.of(60, "nbdinfo", "--list", "--json", "nbd://127.0.0.1:" + daemon.nbdPort).ok().stdout())
                    .doesNotContain("\"copy\"").contains("\"db\"");
            Launcher.run(data, "snapshot", "delete", "db@1").ok();
            Launcher.run(data, "clone", "db@2", "c2").ok();
            Launcher.run(data, "snapshot", "delete", "db@2").ok();
            JsonNode c2 = JSON.readTree(Launcher.run(data, "volume", "info", "c2", "--json").ok().out());
            assertThat(c2.get("origin").asText()).isEqualTo("db@2");
            assertThat(c2.get("originDeleted").asBoolean()).isTrue();
            assertThat(Launcher.run(data, "volume", "list").ok().out()).contains("db@2 (deleted)");
            assertThat(PeerRun.of(60, "nbdinfo", daemon.uri("db@1")).exit()).isNotZero();

            JsonNode grown = JSON.readTree(Launcher.run(data, "pool", "grow", "--size", "512M", "--json").ok().out());
            assertThat(grown.get("totalBytes").asLong()).isGreaterThan(256L << 20);
            JsonNode repair = JSON.readTree(Launcher.run(data, "pool", "repair", "--json").ok().out());
            assertThat(repair.get("clean").asBoolean()).isTrue();
            daemon.stop();
        }
        assertThat(Files.size(data.resolve("default.pool"))).isEqualTo(512L << 20);
        JsonNode check = JSON.readTree(Launcher.run(data, "pool", "check", "--json").ok().out());
        assertThat(check.get("clean").asBoolean()).isTrue();
        assertThat(check.get("volumes").asInt()).as("db and c2").isEqualTo(2);
    }
}

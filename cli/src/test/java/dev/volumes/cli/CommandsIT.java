package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.cli.Launcher.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands without a daemon, run as a subprocess from the built jar, JSON parsed and checked. */
class CommandsIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void poolVolumeSnapshotCloneLifecycleWithJson() throws Exception {
        JsonNode pool = JSON.readTree(Launcher.run(dir, "pool", "create", "--size", "1G", "--block-size", "64K",
                "--label", "ci", "--json").ok().out());
        assertThat(pool.get("blockSize").asInt()).isEqualTo(65536);
        assertThat(pool.get("label").asText()).isEqualTo("ci");
        assertThat(pool.get("volumes").asInt()).isZero();
        assertThat(Files.size(dir.resolve("default.pool"))).isEqualTo(1L << 30);

        JsonNode db = JSON.readTree(Launcher.run(dir, "volume", "create", "db", "100M", "--json").ok().out());
        assertThat(db.get("name").asText()).isEqualTo("db");
        assertThat(db.get("kind").asText()).isEqualTo("volume");
        assertThat(db.get("size").asLong()).isEqualTo(100L << 20);
        assertThat(db.get("allocatedBytes").asLong()).isZero();

        Launcher.run(dir, "snapshot", "create", "db", "db@1").ok();
        Launcher.run(dir, "clone", "db@1", "db-copy").ok();

        JsonNode list = JSON.readTree(Launcher.run(dir, "volume", "list", "--json").ok().out());
        assertThat(list).hasSize(3);
        assertThat(list.findValuesAsText("name")).containsExactlyInAnyOrder("db", "db@1", "db-copy");
        for (JsonNode v : list) {
            switch (v.get("name").asText()) {
                case "db@1" -> {
                    assertThat(v.get("kind").asText()).isEqualTo("snapshot");
                    assertThat(v.get("origin").asText()).isEqualTo("db");
                }
                case "db-copy" -> {
                    assertThat(v.get("kind").asText()).isEqualTo("clone");
                    assertThat(v.get("origin").asText()).isEqualTo("db@1");
                }
                default -> assertThat(v.get("origin").isNull()).isTrue();
            }
        }
        JsonNode snapshots = JSON.readTree(Launcher.run(dir, "snapshot", "list", "db", "--json").ok().out());
        assertThat(snapshots.findValuesAsText("name")).containsExactly("db@1");

        String table = Launcher.run(dir, "volume", "list").ok().out();
        assertThat(table.lines().findFirst().orElseThrow()).startsWith("NAME").contains("KIND", "SIZE", "ORIGIN");
        assertThat(table).contains("db-copy", "100 MiB");

        JsonNode check = JSON.readTree(Launcher.run(dir, "pool", "check", "--json").ok().out());
        assertThat(check.get("clean").asBoolean()).isTrue();
        assertThat(check.get("volumes").asInt()).isEqualTo(3);
    }

    @Test
    void checkReportsADamagedSuperblockSlotWithExit8AndRepairFixesIt() throws Exception {
        Launcher.run(dir, "pool", "create", "--size", "256M").ok();
        Launcher.run(dir, "volume", "create", "a", "10M").ok();
        Launcher.run(dir, "snapshot", "create", "a", "a@1").ok();
        long generation = JSON.readTree(Launcher.run(dir, "pool", "info", "--json").ok().out()).get("generation").asLong();
        assertThat(generation).as("enough commits that an old slot is in use").isGreaterThanOrEqualTo(3);
        long oldSlot = (generation + 2) % 4; // holds generation G-2: neither the newest nor the next one written
        try (var file = java.nio.channels.FileChannel.open(dir.resolve("default.pool"),
                java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            file.read(b, oldSlot * 4096 + 100);
            b.put(0, (byte) ~b.get(0)).rewind();
            file.write(b, oldSlot * 4096 + 100);
        }

        Result check = Launcher.run(dir, "pool", "check", "--json");
        assertThat(check.exit()).as(check.err()).isEqualTo(ExitCode.CHECK_FAILED.code);
        JsonNode report = JSON.readTree(check.out());
        assertThat(report.get("clean").asBoolean()).isFalse();
        assertThat(report.get("findings").findValuesAsText("kind")).contains("SUPERBLOCK");
        assertThat(report.get("findings").findValuesAsText("message")).anyMatch(m -> m.contains("slot " + oldSlot));
        Result table = Launcher.run(dir, "pool", "check");
        assertThat(table.exit()).isEqualTo(ExitCode.CHECK_FAILED.code);
        assertThat(table.out()).contains("slot " + oldSlot);

        Launcher.run(dir, "pool", "repair").ok();
        assertThat(JSON.readTree(Launcher.run(dir, "pool", "check", "--json").ok().out()).get("clean").asBoolean()).isTrue();
        assertThat(Launcher.run(dir, "volume", "list", "--json").ok().out()).contains("a@1");
    }

    @Test
    void errorsAreOneLineWithDocumentedExitCodes() throws Exception {
        Launcher.run(dir, "pool", "create", "--size", "256M").ok();
        Launcher.run(dir, "volume", "create", "a", "10M").ok();

        assertOneLineError(Launcher.run(dir, "volume", "info", "nope"), 3, "nope");
        assertOneLineError(Launcher.run(dir, "volume", "create", "a", "10M"), 4, "'a'");
        assertOneLineError(Launcher.run(dir, "pool", "create"), 4, "already exists");
        assertOneLineError(Launcher.run(dir, "volume", "create", "b", "10Q"), 2, "bad size '10Q'");
        assertOneLineError(Launcher.run(dir, "volume", "create", "bad/name", "1M"), 2, "'/'");
        assertOneLineError(Launcher.run(dir, "volume", "create", "only-a-name"), 2, "SIZE");
        assertOneLineError(Launcher.run(dir, "frobnicate"), 2, "frobnicate");
        assertOneLineError(Launcher.run(dir, "volume", "create", "--no-such-flag", "x", "1M"), 2, "--no-such-flag");
        assertOneLineError(Launcher.run(dir, "snapshot", "create", "missing", "s"), 3, "missing");
        assertOneLineError(Launcher.run(dir.resolve("elsewhere"), "volume", "list"), 3, "no pool");
    }

    static void assertOneLineError(Result r, int exit, String mentions) {
        assertThat(r.exit()).as("exit code of a failing command; stderr: %s", r.err()).isEqualTo(exit);
        assertThat(r.err().lines().count()).as("stderr is one line: %s", r.err()).isEqualTo(1);
        assertThat(r.err()).startsWith("volumes: ").contains(mentions);
        assertThat(r.out()).isEmpty();
    }
}

package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.s3.AwsCredentials;
import dev.volumes.s3.S3Client;
import dev.volumes.s3.S3Config;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pool create --backing s3://bucket/prefix} against s3proxy (SigV4 enforced; credentials
 * only in the standard AWS environment variables, then in a shared credentials file profile): the pool is created in the bucket and recorded
 * in the data directory; volumes, snapshots and listings work; {@code serve} exports it and nbdcopy
 * round-trips data; a second writer is refused by the S3 writer lease while the daemon runs; the
 * pool checks clean afterwards and a bad endpoint is one error line.
 */
class S3BackingIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void poolOnS3CreatedServedReopenedAndLocked() throws Exception {
        Peers.require("nbdcopy", "libnbd-bin");
        try (PeerServices s3 = PeerServices.s3proxy(dir.resolve("s3"))) {
            try (S3Client client = S3Client.create(S3Config.builder().endpoint(URI.create(s3.endpoint()))
                    .region("us-east-1").credentials(AwsCredentials.of(s3.env.get("AWS_ACCESS_KEY_ID"),
                            s3.env.get("AWS_SECRET_ACCESS_KEY"))).build())) {
                client.createBucket("pools");
            }
            Map<String, String> env = new HashMap<>(s3.env);
            Path data = dir.resolve("data");

            JsonNode pool = JSON.readTree(Launcher.run(env, data, "pool", "create", "--backing", "s3://pools/team/a",
                    "--s3-endpoint", s3.endpoint(), "--size", "256M", "--block-size", "64K", "--json").ok().out());
            assertThat(pool.get("path").asText()).isEqualTo("s3://pools/team/a");
            assertThat(pool.get("blockSize").asInt()).isEqualTo(65536);
            assertThat(Files.exists(data.resolve("default.pool"))).isFalse();
            assertThat(Files.readString(data.resolve("pool.json"))).contains("s3://pools/team/a", s3.endpoint())
                    .doesNotContain(s3.env.get("AWS_SECRET_ACCESS_KEY"));

            Launcher.run(env, data, "volume", "create", "db", "16M").ok();
            CommandsIT.assertOneLineError(Launcher.run(env, data, "pool", "create", "--backing", "s3://pools/x"), 4,
                    "already exists");

            byte[] bytes = new byte[6 << 20];
            Random random = Seeds.random("S3BackingIT");
            random.nextBytes(bytes);
            Path source = dir.resolve("source.img");
            Files.write(source, bytes);
            try (Launcher.Daemon daemon = Launcher.Daemon.start(env, data)) {
                assertThat(daemon.output()).contains("serving pool s3://pools/team/a");
                PeerRun.of(120, "nbdcopy", "--flush", source.toString(), daemon.uri("db")).ok();
                Launcher.run(env, data, "snapshot", "create", "db", "db@1").ok();

                // Past the daemon's control socket: the S3 writer lease keeps a second writer out.
                Path other = dir.resolve("other");
                Files.createDirectories(other);
                Files.copy(data.resolve("pool.json"), other.resolve("pool.json"));
                CommandsIT.assertOneLineError(Launcher.run(env, other, "volume", "list"), 6, "s3://pools/team/a");
                int exit = daemon.stop();
                assertThat(daemon.output()).as("exit %d", exit).contains("stopped cleanly");
            }

            JsonNode list = JSON.readTree(Launcher.run(env, data, "volume", "list", "--json").ok().out());
            assertThat(list.findValuesAsText("name")).containsExactlyInAnyOrder("db", "db@1");
            try (Launcher.Daemon daemon = Launcher.Daemon.start(env, data)) {
                Path out = dir.resolve("out.img");
                PeerRun.of(120, "nbdcopy", daemon.uri("db@1"), out.toString()).ok();
                byte[] back = Files.readAllBytes(out);
                assertThat(java.util.Arrays.copyOf(back, bytes.length)).isEqualTo(bytes);
            }
            assertThat(JSON.readTree(Launcher.run(env, data, "pool", "check", "--json").ok().out())
                    .get("clean").asBoolean()).isTrue();

            // The same pool with the keys in an AWS shared credentials file (profile 'ci') instead of variables.
            Path credentials = dir.resolve("aws-credentials");
            Files.writeString(credentials, "[ci]\naws_access_key_id = " + s3.env.get("AWS_ACCESS_KEY_ID")
                    + "\naws_secret_access_key = " + s3.env.get("AWS_SECRET_ACCESS_KEY") + "\n");
            Map<String, String> fromFile = new HashMap<>(env);
            fromFile.put("AWS_ACCESS_KEY_ID", "");
            fromFile.put("AWS_SECRET_ACCESS_KEY", "");
            fromFile.put("AWS_SHARED_CREDENTIALS_FILE", credentials.toString());
            fromFile.put("AWS_PROFILE", "ci");
            assertThat(Launcher.run(fromFile, data, "volume", "list").ok().out()).contains("db@1");

            Path bad = dir.resolve("bad");
            Map<String, String> noKeys = new HashMap<>(env);
            noKeys.put("AWS_ACCESS_KEY_ID", "");
            CommandsIT.assertOneLineError(Launcher.run(noKeys, bad, "pool", "create", "--backing", "s3://pools/b",
                    "--s3-endpoint", s3.endpoint()), 1, "no AWS credentials");
            CommandsIT.assertOneLineError(Launcher.run(env, bad, "pool", "create", "--backing", "s3://Bad_Bucket/b"), 2,
                    "bad S3 bucket name");
        }
    }
}

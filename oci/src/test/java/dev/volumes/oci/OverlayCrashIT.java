package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A process writing through an overlay is killed with SIGKILL at a random point; the resumed
 * overlay holds every write acknowledged by a completed sync, and only whole slots otherwise.
 * (Kill -9 keeps the page cache, so this proves crash-of-process consistency of the spill file and
 * record, not power-cut ordering.)
 */
class OverlayCrashIT {

    @TempDir
    Path tmp;

    @Test
    void everyWriteCoveredByACompletedSyncSurvivesSigkill() throws Exception {
        Random rnd = Seeds.random("OverlayCrashIT");
        int rounds = Seeds.scaled(3);
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice base = RegistryAuthIT.sample(13);
            OciImages.freeze(base, client, ImageRef.parse("crash/base:v1"), RegistryAuthIT.options());
            for (int round = 0; round < rounds; round++) {
                Path spill = tmp.resolve("spill-" + round);
                int killAfter = 7 + rnd.nextInt(140); // SYNCED count to wait for (multiples of 7 land)
                String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
                Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                        OverlayCrashChild.class.getName(), reg.uri().toString(), "crash/base:v1", spill.toString())
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                int synced = 0;
                try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = out.readLine()) != null) {
                        if (line.startsWith("SYNCED ")) {
                            synced = Integer.parseInt(line.substring(7));
                            if (synced >= killAfter) {
                                break;
                            }
                        }
                    }
                    child.destroyForcibly(); // SIGKILL, wherever it is
                    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
                }
                assertThat(synced).as("child made progress; reproduce with " + Seeds.reproduceWith("OverlayCrashIT"))
                        .isGreaterThan(0);
                try (Overlay o = Overlay.resume(client, spill, ImageOptions.defaults())) {
                    for (int i = 0; i < OverlayCrashChild.SLOTS; i++) {
                        ByteBuffer got = ByteBuffer.allocate(OverlayCrashChild.SLOT);
                        o.read(got, OverlayCrashChild.slotOffset(i));
                        ByteBuffer original = ByteBuffer.allocate(OverlayCrashChild.SLOT);
                        base.read(original, OverlayCrashChild.slotOffset(i));
                        byte[] written = new byte[OverlayCrashChild.SLOT];
                        Arrays.fill(written, OverlayCrashChild.pattern(i));
                        if (i < synced) {
                            assertThat(got.array()).as("slot of write %d (synced %d, round %d) %s", i, synced, round,
                                    Seeds.reproduceWith("OverlayCrashIT")).isEqualTo(written);
                        } else {
                            // unsynced: the write or the old content (a process kill tears nothing here)
                            assertThat(Arrays.equals(got.array(), written)
                                    || Arrays.equals(got.array(), original.array()))
                                    .as("slot of unsynced write %d is old or new content", i).isTrue();
                        }
                    }
                }
            }
        }
    }
}

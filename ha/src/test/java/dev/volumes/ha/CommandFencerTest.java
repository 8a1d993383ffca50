package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandFencerTest {

    @TempDir
    Path dir;

    @Test
    void exitZeroFencesAndPlaceholdersAreReplaced() throws Exception {
        Path out = dir.resolve("fenced");
        Fencer f = Fencer.command(List.of("/bin/sh", "-c", "echo \"$0 $1\" > " + out, "{node}", "{term}"), "n1",
                Duration.ofSeconds(10));
        f.fence(42);
        assertThat(Files.readString(out)).isEqualTo("n1 42\n");
    }

    @Test
    void nonZeroExitFailsWithStatusAndOutput() {
        Fencer f = Fencer.command(List.of("/bin/sh", "-c", "echo stonith unreachable; exit 3"), "n1",
                Duration.ofSeconds(10));
        assertThatThrownBy(() -> f.fence(7)).isInstanceOf(IOException.class)
                .hasMessageContaining("term 7").hasMessageContaining("status 3")
                .hasMessageContaining("stonith unreachable");
    }

    @Test
    void commandStillRunningAtTimeoutIsKilledAndFails() {
        Fencer f = Fencer.command(List.of("/bin/sleep", "30"), "n1", Duration.ofMillis(200));
        assertThatThrownBy(() -> f.fence(1)).isInstanceOf(IOException.class).hasMessageContaining("was killed");
    }

    @Test
    void missingProgramFails() {
        Fencer f = Fencer.command(List.of(dir.resolve("no-such-fencer").toString()), "n1", Duration.ofSeconds(1));
        assertThatThrownBy(() -> f.fence(1)).isInstanceOf(IOException.class);
    }

    @Test
    void emptyCommandIsRejected() {
        assertThatThrownBy(() -> Fencer.command(List.of(), "n1", Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}

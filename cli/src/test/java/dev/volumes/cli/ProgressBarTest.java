package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The progress renderer's text and redraw logic, on a fake clock and an in-memory stream. */
class ProgressBarTest {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private final AtomicLong now = new AtomicLong();

    private String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void rendersBarPercentSizesAndRate() {
        assertThat(ProgressBar.render("export db", 512L << 20, 1L << 30, 64 << 20, 10))
                .isEqualTo("export db  [#####.....]   50%  512 MiB / 1 GiB  64 MiB/s");
        assertThat(ProgressBar.render("x", 0, 100, 0, 4)).isEqualTo("x  [....]    0%  0 B / 100 B");
        assertThat(ProgressBar.render("x", 150, 100, 0, 4)).as("clamped").isEqualTo("x  [####]  100%  100 B / 100 B");
        assertThat(ProgressBar.render("x", 3 << 20, -1, 0, 4)).as("unknown total").isEqualTo("x  3 MiB");
    }

    @Test
    void summaryLineHasSizeTimeAndRate() {
        assertThat(ProgressBar.summaryLine("import a", "done", 3L << 30, 2.0))
                .isEqualTo("import a: done (3 GiB in 2.0 s, 1.5 GiB/s)");
        assertThat(ProgressBar.summaryLine("x", "nothing to do", 0, 0)).isEqualTo("x: nothing to do (0 B in 0.0 s)");
    }

    @Test
    void barRedrawsInPlaceAtMostEvery100msOrPercentAndFinishClearsIt() {
        ProgressBar bar = new ProgressBar("copy", err, ProgressBar.Mode.BAR, now::get);
        bar.update(0, 1000);
        bar.update(1, 1000); // same percent, same instant: not redrawn
        assertThat(text().split("\r", -1)).hasSize(2);
        bar.update(20, 1000); // 2 %: redrawn
        now.addAndGet(150_000_000L);
        bar.update(21, 1000); // same percent but 150 ms later: redrawn
        assertThat(text().split("\r", -1)).hasSize(4);
        assertThat(text()).contains("\r" + "copy  [").contains("\u001b[K");
        now.addAndGet(850_000_000L);
        bar.update(1000, 1000);
        bar.finish("copied");
        assertThat(text()).endsWith("\r\u001b[Kcopy: copied (1000 B in 1.0 s, 1000 B/s)" + System.lineSeparator());
    }

    @Test
    void plainPrintsOnlyTheSummaryAndOffNothing() {
        ProgressBar plain = new ProgressBar("freeze", err, ProgressBar.Mode.PLAIN, now::get);
        plain.update(5, 10);
        now.addAndGet(500_000_000L);
        plain.update(10, 10);
        plain.finish("pushed");
        assertThat(text()).isEqualTo("freeze: pushed (10 B in 0.5 s, 20 B/s)" + System.lineSeparator());
        bytes.reset();
        ProgressBar off = new ProgressBar("freeze", err, ProgressBar.Mode.OFF, now::get);
        off.update(5, 10);
        off.finish("pushed");
        assertThat(text()).isEmpty();
    }

    @Test
    void modeFromEnvironmentThenTerminal() {
        assertThat(ProgressBar.detect(null, true)).isEqualTo(ProgressBar.Mode.BAR);
        assertThat(ProgressBar.detect(null, false)).isEqualTo(ProgressBar.Mode.PLAIN);
        assertThat(ProgressBar.detect("off", true)).isEqualTo(ProgressBar.Mode.OFF);
        assertThat(ProgressBar.detect("BAR", false)).isEqualTo(ProgressBar.Mode.BAR);
        assertThat(ProgressBar.detect("plain", true)).isEqualTo(ProgressBar.Mode.PLAIN);
        assertThat(ProgressBar.detect("junk", false)).isEqualTo(ProgressBar.Mode.PLAIN);
    }
}

package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.replica.RebuildProgress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** What {@code ha run} prints while replicas are rebuilt, on a fake clock and an in-memory stream. */
class RebuildReporterTest {

    private static final String NL = System.lineSeparator();

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private final AtomicLong now = new AtomicLong();

    private String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void plainPrintsStartEveryTenthAndTheSummary() {
        RebuildReporter r = new RebuildReporter(err, ProgressBar.Mode.PLAIN, now::get);
        long total = 100L << 20;
        for (long done = 1L << 20; done <= total; done += 1L << 20) {
            now.addAndGet(10_000_000L); // 1 MiB per 10 ms = 100 MiB/s
            r.accept(new RebuildProgress("r1", done, total, false));
        }
        String[] lines = text().split(NL);
        assertThat(lines).hasSize(1 + 9 + 1);
        assertThat(lines[0]).isEqualTo("rebuild r1 (full): started, 100 MiB to copy");
        assertThat(lines[1]).startsWith("rebuild r1 (full): 10% (10 MiB of 100 MiB, ").endsWith(" MiB/s)");
        assertThat(lines[9]).startsWith("rebuild r1 (full): 90% (90 MiB of 100 MiB");
        assertThat(lines[10]).startsWith("rebuild r1 (full): copied (100 MiB in 1.0 s, ");
    }

    @Test
    void anInterruptedRebuildThatStartsAgainIsANewRebuild() {
        RebuildReporter r = new RebuildReporter(err, ProgressBar.Mode.PLAIN, now::get);
        r.accept(new RebuildProgress("r2", 60, 100, true));
        r.accept(new RebuildProgress("r2", 10, 100, true)); // started again after a failure
        r.accept(new RebuildProgress("r3", 5, 10, false)); // another replica meanwhile
        r.accept(new RebuildProgress("r2", 100, 100, true));
        assertThat(text()).isEqualTo("rebuild r2 (delta): started, 100 B to copy" + NL
                + "rebuild r2 (delta): 60% (60 B of 100 B)" + NL
                + "rebuild r2 (delta): started, 100 B to copy" + NL
                + "rebuild r2 (delta): 10% (10 B of 100 B)" + NL
                + "rebuild r3 (full): started, 10 B to copy" + NL
                + "rebuild r3 (full): 50% (5 B of 10 B)" + NL
                + "rebuild r2 (delta): copied (100 B in 0.0 s)" + NL);
    }

    @Test
    void barRedrawsInPlaceAndOffPrintsNothing() {
        RebuildReporter bar = new RebuildReporter(err, ProgressBar.Mode.BAR, now::get);
        bar.accept(new RebuildProgress("r1", 50, 100, true));
        assertThat(text()).startsWith("\rrebuild r1 (delta)  [############............]   50%");
        now.addAndGet(1_000_000_000L);
        bar.accept(new RebuildProgress("r1", 100, 100, true));
        assertThat(text()).endsWith("\r\u001b[Krebuild r1 (delta): copied (100 B in 1.0 s, 100 B/s)" + NL);
        bytes.reset();
        RebuildReporter off = new RebuildReporter(err, ProgressBar.Mode.OFF, now::get);
        off.accept(new RebuildProgress("r1", 50, 100, true));
        off.accept(new RebuildProgress("r1", 100, 100, true));
        assertThat(text()).isEmpty();
    }
}

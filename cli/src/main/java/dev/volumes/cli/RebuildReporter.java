package dev.volumes.cli;

import dev.volumes.replica.RebuildProgress;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Shows replica rebuilds of {@code volumes ha run} as they copy: on a terminal a {@link ProgressBar}
 * per rebuild ({@code rebuild r1 (delta)  [######....]  25%  ...}); otherwise plain lines, one when a
 * rebuild starts, one at every further 10 % and a summary when the copy ends, so a daemon's log says
 * where a long rebuild stands. A rebuild that is interrupted and started again (its done count goes
 * back) starts a new bar. Thread-safe: rebuilds of different replicas may report concurrently.
 */
final class RebuildReporter implements Consumer<RebuildProgress> {

    private final PrintStream err;
    private final ProgressBar.Mode mode;
    private final LongSupplier clock;
    private final Map<String, Running> running = new HashMap<>();

    /** One rebuild being shown. */
    private static final class Running {
        final ProgressBar bar;
        final long started;
        int lastTenth;
        long lastDone;

        Running(ProgressBar bar, long started) {
            this.bar = bar;
            this.started = started;
        }
    }

    RebuildReporter(PrintStream err, ProgressBar.Mode mode, LongSupplier nanoClock) {
        if (err == null || mode == null || nanoClock == null) {
            throw new IllegalArgumentException("stream, mode and clock are required");
        }
        this.err = err;
        this.mode = mode;
        this.clock = nanoClock;
    }

    /** A reporter on {@code System.err} in the mode the environment asks for ({@code VOLUMES_PROGRESS}). */
    static RebuildReporter forDaemon() {
        return new RebuildReporter(System.err, ProgressBar.detect(System.getenv("VOLUMES_PROGRESS"),
                System.console() != null && System.console().isTerminal()), System::nanoTime);
    }

    @Override
    public synchronized void accept(RebuildProgress p) {
        if (mode == ProgressBar.Mode.OFF) {
            return;
        }
        String label = "rebuild " + p.replica() + (p.delta() ? " (delta)" : " (full)");
        Running r = running.get(p.replica());
        if (r == null || p.doneBytes() < r.lastDone) {
            r = new Running(new ProgressBar(label, err, mode, clock), clock.getAsLong());
            running.put(p.replica(), r);
            if (mode == ProgressBar.Mode.PLAIN) {
                err.println(label + ": started, " + Sizes.format(p.totalBytes()) + " to copy");
                err.flush();
            }
        }
        r.lastDone = p.doneBytes();
        if (p.doneBytes() >= p.totalBytes()) {
            running.remove(p.replica());
            r.bar.update(p.doneBytes(), p.totalBytes());
            r.bar.finish("copied");
            return;
        }
        if (mode == ProgressBar.Mode.BAR) {
            r.bar.update(p.doneBytes(), p.totalBytes());
            return;
        }
        int tenth = (int) (p.doneBytes() * 10 / p.totalBytes());
        if (tenth > r.lastTenth) {
            r.lastTenth = tenth;
            double seconds = (clock.getAsLong() - r.started) / 1e9;
            String rate = seconds > 0 ? ", " + Sizes.format((long) (p.doneBytes() / seconds)) + "/s" : "";
            err.println(String.format(Locale.ROOT, "%s: %d%% (%s of %s%s)", label, tenth * 10,
                    Sizes.format(p.doneBytes()), Sizes.format(p.totalBytes()), rate));
            err.flush();
        }
    }
}

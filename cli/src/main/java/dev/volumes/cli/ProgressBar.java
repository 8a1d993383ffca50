package dev.volumes.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A one-line progress bar for long work, drawn on stderr when it is a terminal:
 * {@code freeze db  [#########...........]  45%  450 MiB / 1.0 GiB  90.0 MiB/s}, redrawn in place
 * (carriage return) at most every 100 ms and whenever the whole percentage changes. {@link #finish}
 * clears it and prints one summary line, which is also the only thing printed when stderr is not
 * a terminal. Under {@code --json} nothing is printed at all (scripts read stdout).
 *
 * <p>Mode is chosen once: {@code VOLUMES_PROGRESS=bar|plain|off} wins, else a bar when the
 * process has a terminal ({@link System#console()}), else plain. Not thread-safe on its own; the
 * callers' progress callbacks are never concurrent ({@link ProgressListener}).
 */
final class ProgressBar implements ProgressListener {

    /** How progress is shown. */
    enum Mode {
        /** A redrawn bar plus the summary line. */
        BAR,
        /** Only the summary line. */
        PLAIN,
        /** Nothing. */
        OFF
    }

    static final int WIDTH = 24;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final String label;
    private final PrintStream err;
    private final Mode mode;
    private final LongSupplier clock;
    private final long started;
    private long lastDraw = Long.MIN_VALUE;
    private int lastPercent = -1;
    private long done;
    private long total = -1;
    private boolean drawn;

    ProgressBar(String label, PrintStream err, Mode mode, LongSupplier nanoClock) {
        if (label == null || err == null || mode == null || nanoClock == null) {
            throw new IllegalArgumentException("label, stream, mode and clock are required");
        }
        this.label = label;
        this.err = err;
        this.mode = mode;
        this.clock = nanoClock;
        this.started = nanoClock.getAsLong();
    }

    /** A bar on {@code System.err} in the mode the environment asks for ({@code json} turns it off). */
    static ProgressBar forCommand(String label, boolean json) {
        return new ProgressBar(label, System.err, json ? Mode.OFF : detect(System.getenv("VOLUMES_PROGRESS"),
                System.console() != null && System.console().isTerminal()), System::nanoTime);
    }

    static Mode detect(String env, boolean terminal) {
        if (env != null) {
            switch (env.toLowerCase(Locale.ROOT)) {
                case "bar" -> {
                    return Mode.BAR;
                }
                case "plain" -> {
                    return Mode.PLAIN;
                }
                case "off", "0", "none" -> {
                    return Mode.OFF;
                }
                default -> { }
            }
        }
        return terminal ? Mode.BAR : Mode.PLAIN;
    }

    @Override
    public void update(long done, long total) {
        this.done = done;
        this.total = total;
        if (mode != Mode.BAR) {
            return;
        }
        long now = clock.getAsLong();
        int percent = total > 0 ? (int) Math.min(100, done * 100 / total) : -1;
        if (percent == lastPercent && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        lastDraw = now;
        lastPercent = percent;
        err.print("\r" + render(label, done, total, rate(now), WIDTH) + "\u001b[K");
        err.flush();
        drawn = true;
    }

    /** Clears the bar and prints {@code label: summary (SIZE in SECONDS s, RATE)} unless off. */
    void finish(String summary) {
        if (mode == Mode.OFF) {
            return;
        }
        long now = clock.getAsLong();
        if (drawn) {
            err.print("\r\u001b[K");
        }
        err.println(summaryLine(label, summary, done, (now - started) / 1e9));
        err.flush();
    }

    private double rate(long now) {
        double seconds = (now - started) / 1e9;
        return seconds <= 0 ? 0 : done / seconds;
    }

    /** The bar text for {@code done} of {@code total} (total < 0: unknown, no bar or percentage). */
    static String render(String label, long done, long total, double bytesPerSecond, int width) {
        StringBuilder s = new StringBuilder(label).append("  ");
        if (total > 0) {
            long clamped = Math.min(done, total);
            int filled = (int) (clamped * width / total);
            s.append('[').append("#".repeat(filled)).append(".".repeat(width - filled)).append("]  ");
            s.append(String.format(Locale.ROOT, "%3d%%  ", clamped * 100 / total));
            s.append(Sizes.format(clamped)).append(" / ").append(Sizes.format(total));
        } else {
            s.append(Sizes.format(done));
        }
        if (bytesPerSecond > 0) {
            s.append("  ").append(Sizes.format((long) bytesPerSecond)).append("/s");
        }
        return s.toString();
    }

    /** The final line: {@code label: summary (SIZE in S.S s, RATE/s)}. */
    static String summaryLine(String label, String summary, long done, double seconds) {
        String rate = seconds > 0 ? ", " + Sizes.format((long) (done / seconds)) + "/s" : "";
        return String.format(Locale.ROOT, "%s: %s (%s in %.1f s%s)", label, summary, Sizes.format(done), seconds, rate);
    }
}

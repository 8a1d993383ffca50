package dev.volumes.ha;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * The periodic half of the write-failure health rule (docs/ha.md §2): while the node leads, ask
 * the fencer every {@code interval} whether the write path of the term it leads can still write
 * ({@link Fencer#writeFailure(long)}), so that a leader whose engine failed stop steps down even
 * when no I/O runs into the failure. The other half is the report a failed operation through the
 * {@link TermEngine} makes at once.
 *
 * <p>Design: one task on a {@link Ticker}; each run reads the controller's volatile status, asks
 * the fencer only in state {@link ControllerState#LEADER}, and hands a failure to the controller's
 * step-down, which re-checks state and term under its monitor (a run racing a lease loss or a
 * newer term does nothing). The fencer's answer must be cheap and non-blocking ({@link
 * ReplicatedOpener}: volatile reads). Tests substitute a manual {@link Ticker} and run the check
 * by hand, without clocks. Thread-safe.
 */
final class HealthCheck implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(HealthCheck.class.getName());

    /** Runs a task every period until the returned handle is closed. */
    interface Ticker {
        AutoCloseable every(Duration period, Runnable task);

        /** One daemon thread per controller, named after it. */
        static Ticker thread(String name) {
            return (period, task) -> {
                ScheduledExecutorService ex = new ScheduledThreadPoolExecutor(1, r -> {
                    Thread t = new Thread(r, name);
                    t.setDaemon(true);
                    return t;
                });
                long nanos = period.toNanos();
                ex.scheduleWithFixedDelay(task, nanos, nanos, TimeUnit.NANOSECONDS);
                return ex::shutdownNow;
            };
        }
    }

    private final String nodeId;
    private final Supplier<ControllerStatus> status;
    private final Fencer fencer;
    private final BiConsumer<Long, String> stepDown;
    private final AutoCloseable handle;

    /**
     * Starts checking.
     *
     * @param stepDown called with the term and the reason when the leader's write path failed
     */
    HealthCheck(String nodeId, Supplier<ControllerStatus> status, Fencer fencer, BiConsumer<Long, String> stepDown,
            Ticker ticker, Duration interval) {
        this.nodeId = nodeId;
        this.status = status;
        this.fencer = fencer;
        this.stepDown = stepDown;
        this.handle = ticker.every(interval, this::check);
    }

    /** One check (the ticker's task). Never throws. */
    void check() {
        ControllerStatus s = status.get();
        if (s.state() != ControllerState.LEADER) {
            return;
        }
        Optional<String> why;
        try {
            why = fencer.writeFailure(s.term());
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "node {0}: asking whether term {1} can still write failed: {2}", nodeId, s.term(),
                    e.toString());
            return;
        }
        why.ifPresent(reason -> stepDown.accept(s.term(), reason + " (found by the periodic health check)"));
    }

    /** Stops checking. */
    @Override
    public void close() {
        try {
            handle.close();
        } catch (Exception e) {
            LOG.log(Level.WARNING, "node {0}: stopping the health check failed: {1}", nodeId, e.toString());
        }
    }
}

package dev.volumes.ha;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.replica.RebuildReport;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicatedDevice;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One term's replication engine as {@link ReplicatedOpener#open} returns it: the engine plus its
 * background rebuild loop, which lives exactly as long as the term's device.
 *
 * <p>Design: the loop runs on one virtual thread; it waits on this object's monitor between
 * rounds, so {@link #close()} wakes it at once. Close stops the loop (flag + wake), closes the
 * engine — a rebuild in progress then fails at its next chunk (the engine checks it is open) —
 * and only then interrupts the thread (ending a throttle pause or a wait for a replica) and
 * joins it. Not before: an interrupt during the engine's own file I/O would close the state
 * file's channel and lose the commit that closing the engine makes. Thread-safe.
 */
final class TermReplicas extends ForwardingDevice implements ReplicatedDevice {

    private static final System.Logger LOG = System.getLogger(TermReplicas.class.getName());
    private static final Duration MAX_BACKOFF = Duration.ofMinutes(1);

    private final ReplicatedDevice engine;
    private final String label;
    private final Duration interval;
    private final Consumer<TermReplicas> onClose;
    private final AtomicInteger liveLoops;
    private boolean stopped;            // guarded by this
    private Thread rebuilder;           // guarded by this
    private volatile boolean closed;

    /**
     * @param liveLoops counts running rebuild loops (incremented when one starts, decremented
     *     when its thread ends)
     */
    TermReplicas(ReplicatedDevice engine, String label, Duration interval, Consumer<TermReplicas> onClose,
            AtomicInteger liveLoops) {
        super(engine);
        this.liveLoops = liveLoops;
        this.engine = engine;
        this.label = label;
        this.interval = interval;
        this.onClose = onClose;
    }

    synchronized void startRebuilds() {
        if (!stopped && rebuilder == null) {
            liveLoops.incrementAndGet();
            rebuilder = Thread.ofVirtual().name("ha-rebuild-" + label.replace(' ', '-')).start(() -> {
                try {
                    rebuildLoop();
                } finally {
                    liveLoops.decrementAndGet();
                }
            });
        }
    }

    private void rebuildLoop() {
        Duration wait = interval;
        while (!isStopped()) {
            boolean failed = false;
            for (ReplicaStatus s : engine.status()) {
                if (isStopped()) {
                    return;
                }
                if (s.state() != ReplicaState.OUT_OF_SYNC) {
                    continue;
                }
                try {
                    LOG.log(Level.INFO, "{0}: rebuilding replica {1} ({2})", label, s.id(), s.reason());
                    RebuildReport r = engine.rebuild(s.id());
                    LOG.log(Level.INFO, "{0}: replica {1} in sync again: {2} copy of {3} bytes from {4} in {5} ms",
                            label, s.id(), r.delta() ? "delta" : "full", r.bytesCopied(), r.source(),
                            r.elapsed().toMillis());
                } catch (IllegalStateException e) {
                    // its state changed meanwhile (in sync, or a rebuild already runs)
                } catch (IOException | RuntimeException e) {
                    if (isStopped()) {
                        return;
                    }
                    failed = true;
                    LOG.log(Level.WARNING, "{0}: rebuilding replica {1} failed (retried with backoff): {2}", label,
                            s.id(), e.toString());
                }
            }
            if (failed) {
                Duration doubled = wait.multipliedBy(2);
                Duration cap = interval.compareTo(MAX_BACKOFF) > 0 ? interval : MAX_BACKOFF;
                wait = doubled.compareTo(cap) > 0 ? cap : doubled;
            } else {
                wait = interval;
            }
            if (!pause(wait)) {
                return;
            }
        }
    }

    private synchronized boolean isStopped() {
        return stopped;
    }

    /** Waits {@code howLong} unless stopped; false if stopped. */
    private synchronized boolean pause(Duration howLong) {
        return MonitorWait.whileHolds(this, () -> !stopped, howLong);
    }

    /** Stops the background rebuild, closes the engine, waits for the rebuild thread to end. */
    @Override
    public void close() throws IOException {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            stopped = true;
            t = rebuilder;
            notifyAll();
        }
        try {
            engine.close();
        } finally {
            stop(t);
            onClose.accept(this);
        }
    }

    private void stop(Thread t) {
        if (t == null) {
            return;
        }
        t.interrupt();
        try {
            if (!t.join(Duration.ofSeconds(30))) {
                LOG.log(Level.WARNING, "{0}: the background rebuild did not stop within 30 s of its term's release",
                        label);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public long term() {
        return engine.term();
    }

    @Override
    public long generation() {
        return engine.generation();
    }

    @Override
    public List<ReplicaStatus> status() {
        return engine.status();
    }

    @Override
    public Optional<IOException> writeFailure() {
        return engine.writeFailure();
    }

    /** Whether this term's device was closed (released). */
    boolean isClosed() {
        return closed;
    }

    @Override
    public int dirtyRegions() {
        return engine.dirtyRegions();
    }

    @Override
    public RebuildReport rebuild(String replicaId) throws IOException {
        return engine.rebuild(replicaId);
    }

    @Override
    public void replace(String replicaId, Device device) throws IOException {
        engine.replace(replicaId, device);
    }

    @Override
    public void replace(String replicaId, ReplicaConnector connector) throws IOException {
        engine.replace(replicaId, connector);
    }

    @Override
    public String toString() {
        return "TermReplicas[" + label + ", " + engine + "]";
    }
}

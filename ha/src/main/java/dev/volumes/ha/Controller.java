package dev.volumes.ha;

import dev.volumes.device.Device;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The HA state machine of one node: follower → fence-pending → leader, driven by a {@link
 * Coordinator}, with fence-before-promote through a {@link Fencer}.
 *
 * <h2>Design</h2>
 * <ul>
 *   <li><b>States.</b> {@code Elected(t)} moves a follower to {@link ControllerState#FENCE_PENDING}
 *       for term t; the node becomes {@link ControllerState#LEADER} only after {@link
 *       Fencer#fence}(t) returned and the coordinator still reports the lease of t. A failed fence
 *       is retried with exponential backoff while the lease is held; after {@code
 *       maxFenceAttempts} failures the node resigns so another node may try. {@code LeaseLost}
 *       demotes to {@link ControllerState#FOLLOWER} at once (in the coordinator's delivery
 *       thread, before anything else happens), then the fencer is released and, after {@code
 *       recampaignDelay}, the node campaigns again.</li>
 *   <li><b>Write-failure health rule.</b> When the fencer reports that the write path of the term
 *       this node leads can no longer write ({@link Fencer#watchTermFailures}: e.g. the
 *       replication engine failed stop because it could not keep its mode's replicas in sync),
 *       the node demotes at once (writes refused), counts and logs it, and resigns; the lease
 *       loss that follows releases the term, and the node campaigns again only after a backoff
 *       that doubles with each such failure of a term it led for less than the backoff's
 *       maximum ({@link Backoff}). Another candidate may take over meanwhile; a node alone
 *       is re-elected with a fresh term and fences (reopens) afresh. The fencer reports a failure
 *       when an operation runs into it, and a {@link HealthCheck} asks it every {@code
 *       healthCheckInterval} while leading, so an idle leader steps down too.</li>
 *   <li><b>Locking.</b> One monitor ({@code this}) guards transitions; the current {@link
 *       ControllerStatus} is a volatile snapshot, so the write gate costs one volatile read.
 *       Observers are called inside the monitor, in transition order: they must be quick and
 *       must not call back into the controller except {@link #status()}.</li>
 *   <li><b>Work.</b> Fencing, releasing and campaigning run on one worker thread per controller,
 *       so a release of term t always follows its fence, and blocking I/O never runs in the
 *       coordinator's delivery thread. Backoff waits on the monitor, so a lease loss ends them
 *       at once.</li>
 *   <li><b>Safety.</b> The gate only lets writes through in state LEADER, but a write that passed
 *       the gate can still be in flight when the lease is lost; what makes a deposed leader
 *       harmless is the storage fence of the next term (the replicas refuse the older term),
 *       not this state machine. See docs/ha.md.</li>
 * </ul>
 * Thread-safe.
 */
public final class Controller implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Controller.class.getName());

    private final Coordinator coordinator;
    private final Fencer fencer;
    private final Duration backoffInitial;
    private final Duration backoffMax;
    private final int maxFenceAttempts;
    private final Duration recampaignDelay;
    private final ExecutorService worker;
    private final List<Consumer<ControllerEvent>> observers = new CopyOnWriteArrayList<>();
    private final Coordinator.Subscription subscription;
    private final Coordinator.Subscription failureSubscription;
    private final HealthCheck healthCheck;

    private volatile ControllerStatus status = new ControllerStatus(ControllerState.FOLLOWER, 0);
    private long promotedAtNanos;                   // guarded by this
    private final Backoff stepDownBackoff;          // guarded by this
    private Duration nextRecampaignDelay;           // guarded by this; set by a step-down, used once

    private final AtomicLong elections = new AtomicLong();
    private final AtomicLong fenceAttempts = new AtomicLong();
    private final AtomicLong fenceFailures = new AtomicLong();
    private final AtomicLong promotions = new AtomicLong();
    private final AtomicLong demotions = new AtomicLong();
    private final AtomicLong leaseLosses = new AtomicLong();
    private final AtomicLong campaigns = new AtomicLong();
    private final AtomicLong refusedWrites = new AtomicLong();
    private final AtomicLong writePathFailures = new AtomicLong();

    private Controller(Builder b) {
        this.coordinator = b.coordinator;
        this.fencer = b.fencer;
        this.backoffInitial = b.backoffInitial;
        this.backoffMax = b.backoffMax;
        this.maxFenceAttempts = b.maxFenceAttempts;
        this.recampaignDelay = b.recampaignDelay;
        this.stepDownBackoff = new Backoff(b.failureBackoffInitial, b.failureBackoffMax);
        String threadName = "ha-controller-" + coordinator.nodeId();
        this.worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        this.observers.addAll(b.observers);
        this.subscription = coordinator.observe(this::onCoordinatorEvent);
        this.failureSubscription = fencer.watchTermFailures(this::onTermFailed);
        this.healthCheck = new HealthCheck(coordinator.nodeId(), this::status, fencer, this::onTermFailed,
                b.healthTicker != null ? b.healthTicker : HealthCheck.Ticker.thread("ha-health-" + coordinator.nodeId()),
                b.healthCheckInterval);
    }

    /** A builder; {@link Builder#coordinator} and {@link Builder#fencer} are required. */
    public static Builder builder() {
        return new Builder();
    }

    /** This node's id (the coordinator's). */
    public String nodeId() {
        return coordinator.nodeId();
    }

    /** The current state and term; a volatile read, never blocks. */
    public ControllerStatus status() {
        return status;
    }

    /** A snapshot of the counters. */
    public ControllerCounters counters() {
        return new ControllerCounters(elections.get(), fenceAttempts.get(), fenceFailures.get(), promotions.get(),
                demotions.get(), leaseLosses.get(), campaigns.get(), refusedWrites.get(), writePathFailures.get());
    }

    /**
     * Calls {@code observer} with every later transition, in order, inside the controller's
     * monitor (keep it quick). Closing the returned handle unregisters it.
     */
    public Coordinator.Subscription observe(Consumer<ControllerEvent> observer) {
        if (observer == null) {
            throw new IllegalArgumentException("observer is null");
        }
        observers.add(observer);
        return () -> observers.remove(observer);
    }

    /**
     * A view of {@code device} that lets writes, write-zeroes, discard, sync and resize through
     * only while this controller is {@link ControllerState#LEADER}, and reads according to {@code
     * reads}. Refusals throw {@link NotLeaderException}. Closing the view closes {@code device}.
     */
    public Device gate(Device device, ReadPolicy reads) {
        return new GatedDevice(device, this, reads);
    }

    /**
     * Blocks until the controller is in {@code state} or {@code timeout} passed.
     *
     * @return the status reached, or null on timeout
     * @throws InterruptedException if interrupted while waiting
     */
    public synchronized ControllerStatus awaitState(ControllerState state, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (status.state() != state) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return status;
    }

    void countRefusal() {
        refusedWrites.incrementAndGet();
    }

    /** Starts campaigning (asynchronously). Returns this. */
    Controller start() {
        worker.submit(this::campaignLoop);
        return this;
    }

    private void onCoordinatorEvent(CoordinatorEvent event) {
        switch (event) {
            case CoordinatorEvent.Elected elected -> onElected(elected.term());
            case CoordinatorEvent.LeaseLost lost -> onLeaseLost(lost.term(), lost.reason());
        }
    }

    private synchronized void onElected(long term) {
        if (status.state() == ControllerState.CLOSED) {
            return;
        }
        elections.incrementAndGet();
        transition(ControllerState.FENCE_PENDING, term, "elected");
        worker.submit(() -> fenceLoop(term));
    }

    private void onLeaseLost(long term, String reason) {
        synchronized (this) {
            leaseLosses.incrementAndGet();
            if (status.state() == ControllerState.CLOSED) {
                return;
            }
            ControllerState was = status.state();
            if (was == ControllerState.LEADER || was == ControllerState.FENCE_PENDING) {
                demotions.incrementAndGet();
                transition(ControllerState.FOLLOWER, term, "lease lost: " + reason);
            }
        }
        worker.submit(() -> {
            fencer.release(term);
            sleepUnlessClosed(takeRecampaignDelay());
            campaignLoop();
        });
    }

    private synchronized Duration takeRecampaignDelay() {
        Duration d = nextRecampaignDelay;
        nextRecampaignDelay = null;
        return d == null || d.compareTo(recampaignDelay) < 0 ? recampaignDelay : d;
    }

    /**
     * The write-failure health rule: the fencer says term {@code term}'s write path can no longer
     * write. Runs on the thread that noticed (an I/O thread): demotes at once, then resigns on the
     * worker; the lease loss that follows releases the term and re-campaigns after the backoff.
     */
    private void onTermFailed(long term, String reason) {
        Duration delay;
        synchronized (this) {
            if (status.state() != ControllerState.LEADER || status.term() != term) {
                return; // a stale report: that term is over here already
            }
            writePathFailures.incrementAndGet();
            demotions.incrementAndGet();
            delay = stepDownBackoff.afterFailure(System.nanoTime() - promotedAtNanos);
            nextRecampaignDelay = delay;
            transition(ControllerState.FOLLOWER, term, "write path failed: " + reason + "; resigning, campaigning"
                    + " again in " + delay.toMillis() + " ms");
        }
        worker.submit(() -> {
            // Resign only if the lease of this very term is still held: a loss decided before
            // this check has queued its own release and re-campaign, which must not be undone.
            if (coordinator.leaseTerm().orElse(0) != term) {
                return;
            }
            try {
                coordinator.resign();
            } catch (IOException e) {
                LOG.log(Level.WARNING, "node {0}: resigning term {1} after its write path failed: {2}", nodeId(),
                        term, e.toString());
            }
        });
    }

    private void fenceLoop(long term) {
        Duration backoff = backoffInitial;
        for (int attempt = 1; ; attempt++) {
            if (!pending(term)) {
                return;
            }
            fenceAttempts.incrementAndGet();
            try {
                fencer.fence(term);
            } catch (IOException | RuntimeException e) {
                fenceFailures.incrementAndGet();
                LOG.log(Level.WARNING, "node {0}: fencing term {1} failed (attempt {2} of {3}): {4}", nodeId(), term,
                        attempt, maxFenceAttempts, e.toString());
                if (attempt >= maxFenceAttempts) {
                    giveUp(term, attempt, e);
                    return;
                }
                if (!waitWhilePending(term, backoff)) {
                    return;
                }
                backoff = Backoff.doubled(backoff, backoffMax);
                continue;
            }
            synchronized (this) {
                if (status.state() == ControllerState.FENCE_PENDING && status.term() == term
                        && coordinator.leaseTerm().orElse(0) == term) {
                    promotions.incrementAndGet();
                    promotedAtNanos = System.nanoTime();
                    transition(ControllerState.LEADER, term, "fenced older terms (attempt " + attempt + ")");
                    return;
                }
            }
            // The lease went away while fencing: the LeaseLost handler demotes and releases.
            return;
        }
    }

    private void giveUp(long term, int attempts, Exception last) {
        LOG.log(Level.WARNING, "node {0}: giving up term {1} after {2} failed fences; resigning: {3}", nodeId(), term,
                attempts, last.toString());
        try {
            coordinator.resign();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "node {0}: resigning term {1} failed: {2}", nodeId(), term, e.toString());
        }
    }

    private synchronized boolean pending(long term) {
        return status.state() == ControllerState.FENCE_PENDING && status.term() == term;
    }

    private synchronized boolean waitWhilePending(long term, Duration howLong) {
        return MonitorWait.whileHolds(this, () -> pending(term), howLong);
    }

    private synchronized void sleepUnlessClosed(Duration howLong) {
        MonitorWait.whileHolds(this, () -> status.state() != ControllerState.CLOSED, howLong);
    }

    private void campaignLoop() {
        Duration backoff = backoffInitial;
        while (status.state() != ControllerState.CLOSED && !Thread.currentThread().isInterrupted()) {
            try {
                campaigns.incrementAndGet();
                coordinator.campaign();
                return;
            } catch (IOException | IllegalStateException e) {
                LOG.log(Level.WARNING, "node {0}: campaign failed, retrying in {1}: {2}", nodeId(), backoff, e.toString());
                sleepUnlessClosed(backoff);
                backoff = Backoff.doubled(backoff, backoffMax);
            }
        }
    }

    /** Called with the monitor held. */
    private void transition(ControllerState to, long term, String reason) {
        ControllerState from = status.state();
        status = new ControllerStatus(to, term);
        ControllerEvent event = new ControllerEvent(Instant.now(), nodeId(), from, to, term, reason);
        LOG.log(Level.INFO, "node {0}: {1} -> {2} (term {3}): {4}", nodeId(), from, to, term, reason);
        for (Consumer<ControllerEvent> observer : observers) {
            try {
                observer.accept(event);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "controller observer failed on " + event, e);
            }
        }
        notifyAll();
    }

    /**
     * Stops: refuses writes from now on (state {@link ControllerState#CLOSED}), resigns the lease,
     * releases the fencer and stops the worker (waiting up to 10 s for a fence in progress). Does
     * not close the coordinator. Idempotent.
     */
    @Override
    public void close() {
        long term;
        synchronized (this) {
            if (status.state() == ControllerState.CLOSED) {
                return;
            }
            term = status.term();
            transition(ControllerState.CLOSED, term, "closed");
        }
        subscription.close();
        failureSubscription.close();
        healthCheck.close();
        try {
            coordinator.resign();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "node {0}: resign on close failed: {1}", nodeId(), e.toString());
        }
        worker.submit(() -> fencer.release(term));
        worker.shutdown();
        try {
            if (!worker.awaitTermination(10, TimeUnit.SECONDS)) {
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "Controller[" + nodeId() + " " + status + "]";
    }

    /** Immutable-style builder of a {@link Controller}. Not thread-safe. */
    public static final class Builder {
        private Coordinator coordinator;
        private Fencer fencer;
        private Duration backoffInitial = Duration.ofMillis(50);
        private Duration backoffMax = Duration.ofSeconds(2);
        private int maxFenceAttempts = 10;
        private Duration recampaignDelay = Duration.ofMillis(100);
        private Duration failureBackoffInitial = Duration.ofSeconds(1);
        private Duration failureBackoffMax = Duration.ofSeconds(60);
        private Duration healthCheckInterval = Duration.ofMillis(250);
        private HealthCheck.Ticker healthTicker;
        private final List<Consumer<ControllerEvent>> observers = new java.util.ArrayList<>();

        private Builder() {}

        /** An observer registered before the controller starts, so it sees every transition. */
        public Builder observer(Consumer<ControllerEvent> observer) {
            if (observer == null) {
                throw new IllegalArgumentException("observer is null");
            }
            observers.add(observer);
            return this;
        }

        /** The election to take part in (required). The controller does not close it. */
        public Builder coordinator(Coordinator coordinator) {
            this.coordinator = coordinator;
            return this;
        }

        /** What to run before promotion (required). */
        public Builder fencer(Fencer fencer) {
            this.fencer = fencer;
            return this;
        }

        /** Backoff between failed fences and failed campaigns: doubles from initial up to max. */
        public Builder backoff(Duration initial, Duration max) {
            Backoff.check(initial, max, "backoff");
            this.backoffInitial = initial;
            this.backoffMax = max;
            return this;
        }

        /** Failed fences of one term after which the node resigns (default 10). */
        public Builder maxFenceAttempts(int attempts) {
            if (attempts < 1) {
                throw new IllegalArgumentException("max fence attempts must be >= 1: " + attempts);
            }
            this.maxFenceAttempts = attempts;
            return this;
        }

        /** Pause between a demotion and the next campaign (default 100 ms). */
        public Builder recampaignDelay(Duration delay) {
            if (delay == null || delay.isNegative()) {
                throw new IllegalArgumentException("recampaign delay must be >= 0: " + delay);
            }
            this.recampaignDelay = delay;
            return this;
        }

        /**
         * How long a node waits before campaigning again after it stepped down because the write
         * path of its term failed (the write-failure health rule): {@code initial} (default 1 s),
         * doubling with each such failure of a term it led for less than {@code max} (default
         * 60 s), up to {@code max}.
         */
        public Builder writeFailureBackoff(Duration initial, Duration max) {
            Backoff.check(initial, max, "write failure backoff");
            this.failureBackoffInitial = initial;
            this.failureBackoffMax = max;
            return this;
        }

        /**
         * How often a leader asks its fencer whether the write path of its term can still write
         * ({@link Fencer#writeFailure(long)}; default 250 ms), so that it steps down even while
         * idle: a failed operation through the {@link TermEngine} reports at once, this catches a
         * failure no operation ran into (e.g. the engine was fenced or failed stop during a
         * background rebuild). Each check is a few volatile reads.
         */
        public Builder healthCheckInterval(Duration interval) {
            if (interval == null || interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("health check interval must be positive: " + interval);
            }
            this.healthCheckInterval = interval;
            return this;
        }

        /** Test hook: what runs the health check (default: a daemon thread per controller). */
        Builder healthCheckTicker(HealthCheck.Ticker ticker) {
            this.healthTicker = ticker;
            return this;
        }

        /**
         * Builds the controller and starts campaigning.
         *
         * @throws IllegalStateException if the coordinator or fencer is missing
         */
        public Controller start() {
            if (coordinator == null || fencer == null) {
                throw new IllegalStateException("a controller needs a coordinator and a fencer");
            }
            return new Controller(this).start();
        }
    }
}

package dev.volumes.testkit;

import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import dev.volumes.testkit.FaultInjector.Request;
import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One active rule of a {@link FaultInjector}: which calls it sees, when it fires and what it does.
 * A handle to remove or release it and to read its counters. Thread-safe.
 */
public final class FaultRule {

    enum Action { FAIL, FAIL_AFTER, DELAY, HANG }

    private final FaultInjector injector;
    private final Set<Op> ops;
    private final Predicate<Request> predicate;
    private final long nth;
    private final long after;
    private final double probability;
    private final long times;
    private final Action action;
    private final Function<Request, IOException> failure;
    private final Duration delay;
    private final SplittableRandom random;   // guarded by this
    private final AtomicLong seen = new AtomicLong();
    private final AtomicLong fired = new AtomicLong();
    private final CountDownLatch released = new CountDownLatch(1);

    FaultRule(FaultInjector injector, Builder b, long seed) {
        this.injector = injector;
        this.ops = b.ops;
        this.predicate = b.predicate;
        this.nth = b.nth;
        this.after = b.after;
        this.probability = b.probability;
        this.times = b.times;
        this.action = b.action;
        this.failure = b.failure;
        this.delay = b.delay;
        this.random = new SplittableRandom(seed);
    }

    /** Calls this rule has seen (matching op and predicate) since it was added. */
    public long seen() {
        return seen.get();
    }

    /** Calls this rule has fired on. */
    public long fired() {
        return fired.get();
    }

    /** Removes the rule from its injector and releases the calls it hung. Idempotent. */
    public void remove() {
        injector.remove(this);
        release();
    }

    /** Lets every call this rule hangs, now or later, proceed. Idempotent. */
    public void release() {
        released.countDown();
    }

    @Override
    public String toString() {
        return "FaultRule[" + action + " on " + ops + (nth > 0 ? " nth " + nth : "")
                + (after > 0 ? " after " + after : "") + (probability < 1 ? " p=" + probability : "")
                + (times < Long.MAX_VALUE ? " times " + times : "") + ", seen " + seen + ", fired " + fired + "]";
    }

    /** The action if this rule fires on {@code request}, else null. */
    Action fire(Request request) {
        if (!ops.contains(request.op()) || (predicate != null && !predicate.test(request))) {
            return null;
        }
        long n = seen.incrementAndGet();
        if (nth > 0 ? n != nth : n <= after) {
            return null;
        }
        if (probability < 1) {
            synchronized (this) {
                if (random.nextDouble() >= probability) {
                    return null;
                }
            }
        }
        long f;
        do {
            f = fired.get();
            if (f >= times) {
                return null;
            }
        } while (!fired.compareAndSet(f, f + 1));
        return action;
    }

    IOException exception(String deviceName, Request request) {
        IOException e = failure.apply(request);
        if (e == null) {
            return new IOException("injected failure (the rule's exception factory returned null): " + request
                    + " on '" + deviceName + "'");
        }
        return e;
    }

    Duration delay() {
        return delay;
    }

    void awaitRelease() throws InterruptedException {
        released.await();
    }

    /**
     * An immutable description of a rule under construction; every method returns a new builder.
     * The rule is added to the injector by the terminal methods {@link #fail}, {@link #failWith},
     * {@link #failAfterApplying}, {@link #delay} and {@link #hang}.
     */
    public static final class Builder {

        private final FaultInjector injector;
        private final Set<Op> ops;
        private Predicate<Request> predicate;
        private long nth;
        private long after;
        private double probability = 1;
        private long times = Long.MAX_VALUE;
        private Action action;
        private Function<Request, IOException> failure;
        private Duration delay;

        Builder(FaultInjector injector, EnumSet<Op> ops) {
            this.injector = injector;
            this.ops = Set.copyOf(ops);
        }

        private Builder copy() {
            Builder b = new Builder(injector, EnumSet.copyOf(ops));
            b.predicate = predicate;
            b.nth = nth;
            b.after = after;
            b.probability = probability;
            b.times = times;
            return b;
        }

        /** Fire only on the {@code n}-th call seen (1-based); replaces {@link #after}. */
        public Builder nth(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("nth call must be >= 1: " + n);
            }
            Builder b = copy();
            b.nth = n;
            b.after = 0;
            return b;
        }

        /** Fire on every call seen after the first {@code n}; replaces {@link #nth}. */
        public Builder after(long n) {
            if (n < 0) {
                throw new IllegalArgumentException("after count must be >= 0: " + n);
            }
            Builder b = copy();
            b.after = n;
            b.nth = 0;
            return b;
        }

        /** See only calls {@code test} accepts (it runs on the calling thread; keep it cheap). */
        public Builder when(Predicate<Request> test) {
            if (test == null) {
                throw new IllegalArgumentException("fault rule predicate is null");
            }
            Builder b = copy();
            b.predicate = predicate == null ? test : predicate.and(test);
            return b;
        }

        /** Fire only with probability {@code p} (seeded, see {@link FaultInjector#wrap(dev.volumes.device.Device, long)}). */
        public Builder withProbability(double p) {
            if (!(p >= 0 && p <= 1)) {
                throw new IllegalArgumentException("probability must be in [0, 1]: " + p);
            }
            Builder b = copy();
            b.probability = p;
            return b;
        }

        /** Fire at most {@code n} times. */
        public Builder times(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("times must be >= 1: " + n);
            }
            Builder b = copy();
            b.times = n;
            return b;
        }

        /** Adds the rule: firing calls throw {@code fault} without reaching the device. */
        public FaultRule fail(Fault fault) {
            if (fault == null) {
                throw new IllegalArgumentException("fault is null");
            }
            return failWith(r -> fault.exception(injector.name(), r), Action.FAIL);
        }

        /** Adds the rule: firing calls throw what {@code factory} makes, without reaching the device. */
        public FaultRule failWith(Function<Request, IOException> factory) {
            return failWith(factory, Action.FAIL);
        }

        /**
         * Adds the rule: firing calls reach the device and complete, then throw {@code fault} (the
         * operation happened but its success was not reported).
         */
        public FaultRule failAfterApplying(Fault fault) {
            if (fault == null) {
                throw new IllegalArgumentException("fault is null");
            }
            return failWith(r -> fault.exception(injector.name(), r), Action.FAIL_AFTER);
        }

        /** Adds the rule: firing calls sleep {@code d} first, then proceed. */
        public FaultRule delay(Duration d) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("delay must be a non-negative duration: " + d);
            }
            Builder b = copy();
            b.action = Action.DELAY;
            b.delay = d;
            return injector.add(b);
        }

        /** Adds the rule: firing calls block until the rule is released or removed, then proceed. */
        public FaultRule hang() {
            Builder b = copy();
            b.action = Action.HANG;
            return injector.add(b);
        }

        private FaultRule failWith(Function<Request, IOException> factory, Action kind) {
            if (factory == null) {
                throw new IllegalArgumentException("exception factory is null");
            }
            Builder b = copy();
            b.action = kind;
            b.failure = factory;
            return injector.add(b);
        }
    }
}

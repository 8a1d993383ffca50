package dev.volumes.ha;

import java.time.Duration;

/**
 * The controller's backoff policy, in one place:
 * <ul>
 *   <li>{@link #doubled}: fence retries and campaign retries wait {@code initial}, then double up
 *       to {@code max} (the controller's {@code backoff(initial, max)});</li>
 *   <li>an instance is the <b>step-down backoff</b> of the write-failure health rule (docs/ha.md
 *       §2): how long a node waits before campaigning again after it stepped down because the
 *       write path of its term failed — {@code initial} after a first failure, or after a term it
 *       led for at least {@code max}; otherwise the previous wait doubled, up to {@code max}. A
 *       node whose every term fails at once campaigns after 1, 2, 4 ... s (defaults); one that led
 *       for a long time starts again from the initial wait.</li>
 * </ul>
 * Pure arithmetic on durations the caller measures (no clock here). An instance is not
 * thread-safe (the controller calls it under its monitor).
 */
final class Backoff {

    private final Duration initial;
    private final Duration max;
    private Duration last; // null until the first failure

    /** A step-down backoff. */
    Backoff(Duration initial, Duration max) {
        check(initial, max, "write failure backoff");
        this.initial = initial;
        this.max = max;
    }

    /** {@code current} doubled, but at most {@code max}. */
    static Duration doubled(Duration current, Duration max) {
        Duration d = current.multipliedBy(2);
        return d.compareTo(max) > 0 ? max : d;
    }

    /** @throws IllegalArgumentException unless {@code 0 < initial <= max} */
    static void check(Duration initial, Duration max, String what) {
        if (initial == null || max == null || initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
            throw new IllegalArgumentException(what + " needs 0 < initial <= max: " + initial + ", " + max);
        }
    }

    /** The wait after a write-path failure of a term led for {@code ledNanos}; remembered for the next one. */
    Duration afterFailure(long ledNanos) {
        last = last == null || ledNanos >= max.toNanos() ? initial : doubled(last, max);
        return last;
    }
}

package dev.volumes.ha;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** A bounded wait on an object's monitor while a condition guarded by it holds. */
final class MonitorWait {

    private MonitorWait() {}

    /**
     * Waits on {@code monitor} (the caller holds it) while {@code holds} is true, for at most
     * {@code howLong}; the condition is re-checked at every wake-up.
     *
     * @return true if the time ran out with the condition still holding; false if it stopped
     *     holding, or if the thread was interrupted (the interrupt flag is set again)
     */
    static boolean whileHolds(Object monitor, BooleanSupplier holds, Duration howLong) {
        long deadline = System.nanoTime() + howLong.toNanos();
        try {
            while (holds.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return true;
                }
                TimeUnit.NANOSECONDS.timedWait(monitor, left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs one request on several replicas at once, each on its own virtual thread, and waits for
 * each until a deadline. A request that misses the deadline is reported as failed but keeps
 * running (a device call cannot be taken back); it stays counted in {@link Member#inflight} until
 * it returns. An interrupt does not cut the wait short: the caller holds the request's range, and
 * releasing it while the request still runs on some replicas would let an overlapping request
 * reach them in a different order; the interrupt status is restored on return. Thread-safe.
 */
final class FanOut {

    /** One request against one replica's device. */
    interface Action {
        void run(Device device) throws IOException;
    }

    /** A replica that failed or missed the deadline, with why. */
    record Failure(Member member, Throwable error) {}

    private final String name;
    private final ExecutorService executor;
    private final Duration timeout;

    FanOut(String name, ExecutorService executor, Duration timeout) {
        this.name = name;
        this.executor = executor;
        this.timeout = timeout;
    }

    /**
     * Runs {@code action} on each member's current device concurrently and waits for all, each
     * until the write timeout.
     *
     * @return the members that failed or timed out, with why
     */
    List<Failure> run(List<Member> targets, Action action) throws IOException {
        List<Future<?>> futures = new ArrayList<>(targets.size());
        for (Member m : targets) {
            Device d = m.device;
            m.inflight.incrementAndGet();
            try {
                futures.add(executor.submit(() -> {
                    try {
                        if (d == null) {
                            throw new IOException("replica " + m.id + " has no device");
                        }
                        action.run(d);
                    } finally {
                        m.inflight.decrementAndGet();
                    }
                    return null;
                }));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                m.inflight.decrementAndGet();
                throw new DeviceClosedException(name, "fan-out", e);
            }
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Failure> failed = new ArrayList<>();
        boolean interrupted = false;
        for (int i = 0; i < targets.size(); i++) {
            Member m = targets.get(i);
            while (true) {
                try {
                    futures.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (ExecutionException e) {
                    failed.add(new Failure(m, e.getCause()));
                } catch (TimeoutException e) {
                    failed.add(new Failure(m, new IOException("no answer within " + timeout.toMillis()
                            + " ms", e)));
                } catch (InterruptedException e) {
                    interrupted = true; // keep waiting, see the class comment
                    continue;
                }
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return failed;
    }

    /** Whether {@code e} is this class's "no answer within the timeout" failure. */
    static boolean isTimeout(Throwable e) {
        return e.getCause() instanceof TimeoutException;
    }

    static String describe(Throwable e) {
        String msg = e.getMessage();
        return e.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
    }

}

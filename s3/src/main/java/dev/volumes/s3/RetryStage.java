package dev.volumes.s3;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * Bounded retries with exponential backoff and full jitter: attempt {@code n} (from 1) waits a
 * uniformly random time in {@code [0, min(maxBackoff, baseBackoff * 2^(n-1))]} before the next.
 * Retried: no answer at all (reset, refused, timeout: any {@link IOException} from below except an
 * interrupt), HTTP 5xx (InternalError, ServiceUnavailable, SlowDown), 429, and the 4xx codes that
 * mean "try again" (RequestTimeout, Throttling, ThrottlingException, SlowDown,
 * ConditionalRequestConflict). Everything else is returned at once. When the attempts run out the
 * last answer is returned, or the last exception thrown with the earlier ones suppressed.
 * Retries are logged at DEBUG through {@link System.Logger}; the lines name the operation,
 * bucket and key and the failure, never headers or credentials. Thread-safe if the sleeper and
 * random generator are.
 */
final class RetryStage implements Exchange {

    /** Sleeps; injectable so tests do not wait. */
    interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    private static final System.Logger LOG = System.getLogger(RetryStage.class.getName());

    private static final Set<String> RETRYABLE_CODES = Set.of("RequestTimeout", "Throttling", "ThrottlingException",
            "SlowDown", "ConditionalRequestConflict", "RequestLimitExceeded", "InternalError", "ServiceUnavailable");

    private final int maxAttempts;
    private final Duration baseBackoff;
    private final Duration maxBackoff;
    private final Sleeper sleeper;
    private final RandomGenerator random;
    private final Exchange next;

    RetryStage(int maxAttempts, Duration baseBackoff, Duration maxBackoff, Sleeper sleeper, RandomGenerator random,
            Exchange next) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("max attempts must be at least 1: " + maxAttempts);
        }
        this.maxAttempts = maxAttempts;
        this.baseBackoff = baseBackoff;
        this.maxBackoff = maxBackoff;
        this.sleeper = sleeper;
        this.random = random;
        this.next = next;
    }

    static boolean retryable(S3Response r) {
        if (r.status() >= 500 || r.status() == 429) {
            return true;
        }
        if (r.status() >= 400) {
            return RETRYABLE_CODES.contains(S3Xml.errorCode(r.body()));
        }
        return false;
    }

    @Override
    public S3Response send(S3Request request) throws IOException {
        List<IOException> failures = new ArrayList<>();
        for (int attempt = 1; ; attempt++) {
            try {
                S3Response r = next.send(request);
                if (!retryable(r) || attempt == maxAttempts) {
                    return r;
                }
                LOG.log(System.Logger.Level.DEBUG, () -> "retrying " + request.what() + " after HTTP " + r.status() + " "
                        + S3Xml.errorCode(r.body()));
            } catch (InterruptedIOException e) {
                failures.forEach(e::addSuppressed);
                throw e;
            } catch (IOException e) {
                if (attempt == maxAttempts) {
                    IOException last = new IOException(request.what() + ": no answer after " + attempt
                            + " attempts: " + e.getMessage(), e);
                    failures.forEach(last::addSuppressed);
                    throw last;
                }
                failures.add(e);
                LOG.log(System.Logger.Level.DEBUG, () -> "retrying " + request.what() + " after " + e);
            }
            backoff(request, attempt);
        }
    }

    private void backoff(S3Request request, int attempt) throws InterruptedIOException {
        long capNanos = Math.min(maxBackoff.toNanos(), baseBackoff.toNanos() << Math.min(attempt - 1, 30));
        long wait = capNanos <= 0 ? 0 : random.nextLong(capNanos + 1);
        try {
            sleeper.sleep(Duration.ofNanos(wait));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while backing off before retrying " + request.what());
        }
    }
}

package dev.volumes.pool;

import java.util.List;
import java.util.Objects;

/**
 * The result of {@link Pool#repair()}.
 *
 * @param fixed what was repaired, one line each
 * @param refused what was found but not repaired, each with the reason
 * @param before the check the repair started from
 * @param after a fresh check after the repair's commits
 */
public record RepairReport(List<String> fixed, List<String> refused, CheckReport before, CheckReport after) {

    public RepairReport {
        fixed = List.copyOf(Objects.requireNonNull(fixed, "fixed"));
        refused = List.copyOf(Objects.requireNonNull(refused, "refused"));
        Objects.requireNonNull(before, "before");
        Objects.requireNonNull(after, "after");
    }

    /** Whether the pool is consistent after the repair. */
    public boolean clean() {
        return after.clean();
    }
}

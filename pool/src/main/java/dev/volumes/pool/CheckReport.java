package dev.volumes.pool;

import java.util.List;
import java.util.Objects;

/**
 * The result of {@link Pool#check()}: every inconsistency found, one human-readable line each
 * (naming the block and what was expected versus found), plus what was walked.
 *
 * @param problems the inconsistencies; empty means the pool is consistent
 * @param volumes volumes, snapshots and clones walked
 * @param metadataBlocks unique map nodes and catalog blocks walked
 * @param dataBlocks unique data blocks referenced
 * @param generation the committed generation the walk started from
 */
public record CheckReport(List<String> problems, long volumes, long metadataBlocks, long dataBlocks, long generation) {

    public CheckReport {
        problems = List.copyOf(Objects.requireNonNull(problems, "problems"));
    }

    /** Whether no problem was found. */
    public boolean clean() {
        return problems.isEmpty();
    }
}

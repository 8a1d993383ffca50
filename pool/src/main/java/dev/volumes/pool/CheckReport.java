package dev.volumes.pool;

import java.util.List;
import java.util.Objects;

/**
 * The result of {@link Pool#check()}: every inconsistency found, as structured {@link Finding}s
 * and as one human-readable line each (naming the block and what was expected versus found),
 * plus what was walked.
 *
 * @param problems the inconsistencies as text, one per finding; empty means consistent
 * @param volumes volumes, snapshots and clones walked
 * @param metadataBlocks unique map nodes and catalog blocks walked
 * @param dataBlocks unique data blocks referenced
 * @param generation the committed generation the walk started from
 * @param findings the same inconsistencies, typed
 * @param superblockGenerations the generations held by the valid superblock slots, newest first
 */
public record CheckReport(List<String> problems, long volumes, long metadataBlocks, long dataBlocks, long generation,
        List<Finding> findings, List<Long> superblockGenerations) {

    /** What kind of inconsistency a finding is. */
    public enum Kind {
        /** A committed metadata block on the device fails verification (checksum, magic, self address...). */
        BAD_CHECKSUM,
        /** A committed metadata block on the device verifies but differs from the committed copy. */
        STALE_METADATA,
        /** A map points outside the data area. */
        OUT_OF_RANGE,
        /** A map points at a node that is not loaded (a dangling pointer). */
        DANGLING_POINTER,
        /** A block is reached as two kinds, or at two levels. */
        DOUBLE_REFERENCE,
        /** A block's reference count differs from the references found. */
        WRONG_REFCOUNT,
        /** A block is used but neither referenced nor waiting to be freed. */
        LEAKED,
        /** A referenced block is free or queued to be freed (it would be reused while in use). */
        REFERENCED_FREE,
        /** A counter (a volume's mapped blocks, the free counter) disagrees with the maps. */
        COUNTER,
        /** A superblock slot is damaged, or the newest valid one is not the committed generation. */
        SUPERBLOCK
    }

    /**
     * One inconsistency.
     *
     * @param kind what is wrong
     * @param block the block concerned, or -1 (superblock slots, counters)
     * @param expected what the walk expected there (a count, a kind of block, a range, an entry
     *     value), empty if not applicable
     * @param actual what it found instead, in the same terms, empty if not applicable
     * @param message one line naming the block, the expected and the actual value
     */
    public record Finding(Kind kind, long block, String expected, String actual, String message) {
        public Finding {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(expected, "expected");
            Objects.requireNonNull(actual, "actual");
            Objects.requireNonNull(message, "message");
        }

        /** A finding with no separate expected and actual values. */
        public Finding(Kind kind, long block, String message) {
            this(kind, block, "", "", message);
        }
    }

    public CheckReport {
        problems = List.copyOf(Objects.requireNonNull(problems, "problems"));
        findings = List.copyOf(Objects.requireNonNull(findings, "findings"));
        superblockGenerations = List.copyOf(Objects.requireNonNull(superblockGenerations, "superblockGenerations"));
    }

    /** A report from text problems only (no typed findings). */
    public CheckReport(List<String> problems, long volumes, long metadataBlocks, long dataBlocks, long generation) {
        this(problems, volumes, metadataBlocks, dataBlocks, generation, List.of(), List.of());
    }

    /** Whether no problem was found. */
    public boolean clean() {
        return problems.isEmpty();
    }

    /** The findings of one kind. */
    public List<Finding> findings(Kind kind) {
        return findings.stream().filter(f -> f.kind() == kind).toList();
    }
}

package dev.volumes.cli;

import java.util.List;

/**
 * The result of {@code volumes pool check}, as printed and carried by the control API.
 *
 * @param clean whether nothing was wrong
 * @param problems one line per inconsistency, naming the block and what was expected
 * @param volumes volumes, snapshots and clones walked
 * @param metadataBlocks metadata blocks walked
 * @param dataBlocks data blocks referenced
 * @param generation the committed generation checked
 * @param findings the problems as structured records (kind, block, expected, actual, message)
 */
record CheckView(boolean clean, List<String> problems, long volumes, long metadataBlocks, long dataBlocks,
        long generation, List<Finding> findings) {

    /**
     * One problem: {@code kind} as the pool names it (BAD_CHECKSUM, LEAK, WRONG_REFCOUNT,
     * OUT_OF_RANGE, ...), the block concerned (-1 if none), what was expected and what was found
     * (empty when not applicable) and the one-line message.
     */
    record Finding(String kind, long block, String expected, String actual, String message) {}

    static CheckView of(dev.volumes.pool.CheckReport report) {
        return new CheckView(report.clean(), report.problems(), report.volumes(), report.metadataBlocks(),
                report.dataBlocks(), report.generation(), report.findings().stream()
                        .map(f -> new Finding(f.kind().name(), f.block(), f.expected(), f.actual(), f.message())).toList());
    }
}

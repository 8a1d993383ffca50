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
 */
record CheckView(boolean clean, List<String> problems, long volumes, long metadataBlocks, long dataBlocks,
        long generation) {}

package dev.volumes.replica;

import java.time.Duration;

/**
 * What a completed rebuild did.
 *
 * @param replica the rebuilt replica
 * @param source the in-sync replica it was copied from
 * @param delta true if only the regions recorded dirty were copied, false for a full copy
 * @param regions how many regions were copied
 * @param bytesCopied bytes read from the source and written to the target (zero runs written as
 *     write-zeroes count too)
 * @param elapsed wall time
 */
public record RebuildReport(String replica, String source, boolean delta, long regions, long bytesCopied,
        Duration elapsed) {}

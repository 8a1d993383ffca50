package dev.volumes.cli;

import java.util.List;

/** Results of the lifecycle commands (repair, diff, usage), as printed and carried by the control API. */
final class LifecycleViews {

    private LifecycleViews() {}

    /**
     * {@code pool repair}.
     *
     * @param clean whether the pool checks clean after the repair
     * @param fixed what was repaired, one line each
     * @param refused what was found but not repaired, each with the reason
     * @param problemsBefore the check's problems before
     * @param problemsAfter the check's problems after (empty when clean)
     */
    record Repair(boolean clean, List<String> fixed, List<String> refused, List<String> problemsBefore,
            List<String> problemsAfter) {}

    /** One changed byte range. */
    record Range(long offset, long length) {}

    /**
     * {@code diff OLDER NEWER}: block-aligned byte ranges that may differ (a superset of the byte
     * differences, never a subset), sorted and merged.
     *
     * @param older the older volume or snapshot
     * @param newer the newer one
     * @param changedBytes sum of the ranges' lengths
     * @param ranges the ranges
     */
    record Diff(String older, String newer, long changedBytes, List<Range> ranges) {}

    /**
     * Space used by one volume ({@code volume info}).
     *
     * @param mappedBytes bytes of data blocks its map points at
     * @param exclusiveBytes what deleting it would free
     * @param sharedBytes blocks shared with snapshots or clones
     */
    record Usage(long mappedBytes, long exclusiveBytes, long sharedBytes) {}
}

package dev.volumes.testkit;

/**
 * What {@link CrashSimulator#crash()} did to the disk. Print it in failure messages: it carries
 * the seed that reproduces the exact post-crash state for the same operation sequence.
 *
 * @param pendingWrites mutating operations (writes, write-zeroes, discards, resizes) that were not
 *     yet covered by a completed sync when power was lost
 * @param keptWrites how many of them landed (fully or torn) in the post-crash state
 * @param tornWrites how many of the kept writes landed only partly: some of their sectors kept,
 *     others not
 * @param seed the simulator's seed
 */
public record CrashReport(long pendingWrites, long keptWrites, long tornWrites, long seed) {

    public CrashReport {
        if (pendingWrites < 0 || keptWrites < 0 || tornWrites < 0 || keptWrites > pendingWrites
                || tornWrites > keptWrites) {
            throw new IllegalArgumentException("inconsistent crash report: pending=" + pendingWrites
                    + " kept=" + keptWrites + " torn=" + tornWrites);
        }
    }

    @Override
    public String toString() {
        return "CrashReport[pending=" + pendingWrites + ", kept=" + keptWrites + ", torn=" + tornWrites
                + ", seed=0x" + Long.toHexString(seed) + "]";
    }
}

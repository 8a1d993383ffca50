package dev.volumes.replica;

/**
 * How many replicas must hold a write before it is acknowledged.
 *
 * <ul>
 *   <li>{@link #QUORUM}: a strict majority of the replica set (2 of 3, 3 of 5). A new writer
 *       that claims a majority with a higher term therefore fences the old writer at the storage:
 *       the old writer can no longer assemble a majority. Availability: the set stays writable
 *       only while a majority is reachable.</li>
 *   <li>{@link #minInSync(int)}: at least {@code n} replicas in sync. More available (a 3-way set
 *       with {@code minInSync(1)} keeps writing with two replicas gone), but a writer that lost
 *       contact with the others cannot be fenced by them alone, and a new writer opening with
 *       fewer than all replicas reachable may miss the freshest one. See docs/replication.md.</li>
 * </ul>
 * Immutable and thread-safe.
 */
public final class ReplicationMode {

    /** Writes need a strict majority of all replicas of the set. */
    public static final ReplicationMode QUORUM = new ReplicationMode(true, 0);

    private final boolean quorum;
    private final int minInSync;

    private ReplicationMode(boolean quorum, int minInSync) {
        this.quorum = quorum;
        this.minInSync = minInSync;
    }

    /**
     * Writes need at least {@code n} in-sync replicas.
     *
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static ReplicationMode minInSync(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("minInSync must be at least 1, got " + n);
        }
        return new ReplicationMode(false, n);
    }

    /** Whether this is {@link #QUORUM}. */
    public boolean isQuorum() {
        return quorum;
    }

    /**
     * The number of in-sync replicas a write needs in a set of {@code replicas}.
     *
     * @throws IllegalArgumentException if a {@code minInSync} mode asks for more than the set has
     */
    public int required(int replicas) {
        if (quorum) {
            return replicas / 2 + 1;
        }
        if (minInSync > replicas) {
            throw new IllegalArgumentException("minInSync(" + minInSync + ") exceeds the " + replicas
                    + " replicas of the set");
        }
        return minInSync;
    }

    @Override
    public String toString() {
        return quorum ? "QUORUM" : "minInSync(" + minInSync + ")";
    }
}

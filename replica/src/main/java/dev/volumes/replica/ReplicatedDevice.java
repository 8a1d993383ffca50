package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * A {@link Device} that mirrors every write synchronously onto a set of replicas; built by
 * {@link Replication#builder()}.
 *
 * <h2>Promises</h2>
 * <ul>
 *   <li><b>Writes</b> (write, write-zeroes, discard) go to every in-sync (and rebuilding) replica
 *       concurrently and return once all of them acknowledged and at least the mode's requirement
 *       ({@link ReplicationMode}) of in-sync replicas hold the write. A replica that fails or
 *       does not answer within the write timeout is marked {@link ReplicaState#OUT_OF_SYNC} with
 *       the reason, durably, before the write returns — unless fewer in-sync replicas than the
 *       requirement would remain: then no replica is marked out and no new generation is
 *       published anywhere; the write throws {@link FencedException} if a failed replica (asked
 *       again) reports a newer term, else an {@link IOException} naming each failed replica and
 *       why, and every later write, sync and rebuild throws until the set is reopened. The bytes
 *       of a failed write may be on some replicas (it is not rolled back, as on a disk, whose
 *       content is unspecified after a failed write); the next open makes the replicas
 *       identical again.</li>
 *   <li><b>Durability</b>: {@link #sync()} and FUA writes fan out with the same rule, so a
 *       returned sync means the requirement's count of replicas made the data durable.</li>
 *   <li><b>Ordering</b>: overlapping writes reach every replica in the same order; disjoint
 *       writes proceed in parallel (no global write lock).</li>
 *   <li><b>Reads</b> come from the preferred replica while it is in sync, failing over to the
 *       other in-sync replicas in configuration order; a stale replica is never read.</li>
 *   <li><b>Fencing</b>: once any replica reports a newer term every later operation throws
 *       {@link FencedException}.</li>
 *   <li><b>Fail-stop is observable</b>: {@link #writeFailure()} says why writes are refused until
 *       the set is reopened, without writing anything.</li>
 *   <li>{@link #size()} is the replicas' size minus the {@link Replication#HEADER_BYTES} (64 KiB)
 *       header area each carries (create replicas with {@link Replication#replicaSize}).</li>
 * </ul>
 * Thread-safe; blocking.
 */
public interface ReplicatedDevice extends Device {

    /** The writer's term this device claimed the replicas with. */
    long term();

    /**
     * The set's current generation (bumped at open and whenever a replica drops out; never
     * published to fewer replicas than the mode requires).
     */
    long generation();

    /** A snapshot of every replica's state, in configuration order. */
    List<ReplicaStatus> status();

    /**
     * Why this device refuses every write until the set is reopened ("failed stop"), or empty
     * while it can still write. The reasons, checked in this order:
     * <ol>
     *   <li><b>fenced</b>: a replica reported (or, probed after a failure, admitted) a newer term —
     *       the {@link FencedException}; every later operation, reads included, throws;</li>
     *   <li><b>state commit failed</b>: the writer state file could not be committed — an
     *       {@code IOException} with the file's error as its cause; writes throw;</li>
     *   <li><b>below the mode's requirement</b>: a failure would have left fewer in-sync replicas
     *       than the {@link ReplicationMode} requires, so nothing was published — the
     *       {@code IOException} that write threw, naming each failed replica and why; writes, sync
     *       and rebuilds throw.</li>
     * </ol>
     * It reports what this engine has learnt: a writer deposed by a claim that none of its
     * requests has run into yet still reports empty. A transient failure is not a fail-stop: a replica dropped out while enough remain in sync,
     * or one write that failed or timed out once, leaves this empty. Once present it stays present
     * for the life of this device (a later fencing may replace the reason by the
     * {@link FencedException}); only a new {@link Replication.Builder#open()} clears it. Not
     * affected by {@link #close()}: a closed device reports the failure it had, if any (every
     * operation on it throws {@code DeviceClosedException} anyway).
     *
     * <p>Cheap (volatile reads), never blocks, changes nothing: meant for health checks that poll
     * it (docs/ha.md §2, the write-failure health rule).
     */
    Optional<IOException> writeFailure();

    /** How many regions are recorded dirty (may differ between some replicas). */
    int dirtyRegions();

    /**
     * Brings an out-of-sync replica back: reattaches it (a new session through its connector, if
     * it has one), copies the regions recorded dirty since it left (delta) or everything (full:
     * when it has no usable history), beside live writes, throttled, then syncs it and marks it
     * in sync. Blocks until done.
     *
     * @throws IllegalArgumentException for an unknown id
     * @throws IllegalStateException if the replica is in sync or already being rebuilt
     * @throws IOException if the copy failed; the replica stays out of sync with the reason
     */
    RebuildReport rebuild(String replicaId) throws IOException;

    /**
     * Replaces an out-of-sync replica's device by a new, local one (for example after the old
     * disk died). The replica then needs a full {@link #rebuild}.
     *
     * @throws IllegalStateException if the replica is not out of sync
     * @throws IOException if the new device's size does not match
     */
    void replace(String replicaId, Device device) throws IOException;

    /** Replaces an out-of-sync replica by one reached through {@code connector}; see {@link #replace(String, Device)}. */
    void replace(String replicaId, ReplicaConnector connector) throws IOException;
}

package dev.volumes.replica;

import java.io.IOException;

/**
 * A writer's term is older than a term some replica has already promised to another writer: the
 * writer has been deposed and must stop. Thrown by {@link Replication.Builder#open()} when a
 * reachable replica refuses the claim, and by every write, sync and rebuild of a
 * {@link ReplicatedDevice} once any replica reported a newer term (fail-stop: the device never
 * accepts a write again). The message names the replica, the refused term and the promised one.
 */
public class FencedException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String replica;
    private final long refusedTerm;
    private final long promisedTerm;

    /**
     * @param replica the replica (or export) that refused
     * @param refusedTerm the term that was refused
     * @param promisedTerm the newer term that replica had promised
     * @param detail extra context (who holds the newer term), may be empty
     */
    public FencedException(String replica, long refusedTerm, long promisedTerm, String detail) {
        super("fenced: replica " + replica + " has promised term " + promisedTerm + ", refusing term "
                + refusedTerm + (detail == null || detail.isEmpty() ? "" : " (" + detail + ")"));
        this.replica = replica;
        this.refusedTerm = refusedTerm;
        this.promisedTerm = promisedTerm;
    }

    /** Wraps a fencing refusal seen by a replica so the device reports which write hit it. */
    public FencedException(String context, FencedException cause) {
        super(context + ": " + cause.getMessage(), cause);
        this.replica = cause.replica;
        this.refusedTerm = cause.refusedTerm;
        this.promisedTerm = cause.promisedTerm;
    }

    /** The replica that refused. */
    public String replica() {
        return replica;
    }

    /** The writer's term that was refused. */
    public long refusedTerm() {
        return refusedTerm;
    }

    /** The newer term the replica had promised. */
    public long promisedTerm() {
        return promisedTerm;
    }
}

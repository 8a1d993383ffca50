package dev.volumes.cli;

/**
 * Receives progress of long work (freeze, import, export, copy). Called from the working thread(s),
 * never concurrently; must not block.
 */
@FunctionalInterface
interface ProgressListener {

    /** A listener that ignores everything. */
    ProgressListener NONE = (done, total) -> {};

    /**
     * @param done units done so far (bytes, unless the caller says otherwise), monotonic
     * @param total units in all, or a negative number when unknown
     */
    void update(long done, long total);
}

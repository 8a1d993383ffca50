package dev.volumes.pool;

/**
 * Progress of a long operation (raw import or export), called on the working thread after each
 * chunk with the bytes done so far and the total; must return quickly.
 */
@FunctionalInterface
public interface Progress {

    /** Called with {@code 0 <= doneBytes <= totalBytes}; the last call has {@code doneBytes == totalBytes}. */
    void update(long doneBytes, long totalBytes);

    /** Ignores every update. */
    Progress NONE = (d, t) -> {};
}

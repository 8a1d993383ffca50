package dev.volumes.pool;

/**
 * Told when a pool's used space crosses {@link PoolOptions#lowSpaceThreshold()} upwards. Called
 * once per crossing (re-armed when usage falls back below the threshold), on the thread whose
 * allocation or commit noticed it, with no pool lock held; it should return quickly and must not
 * throw (a thrown exception is logged and ignored).
 */
@FunctionalInterface
public interface LowSpaceListener {

    /** The pool's space accounting right after the crossing. */
    void lowSpace(PoolInfo info);
}

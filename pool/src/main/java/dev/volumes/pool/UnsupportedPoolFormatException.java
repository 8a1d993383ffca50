package dev.volumes.pool;

/**
 * The pool was written by a newer format than this build reads: a superblock whose magic and
 * checksum are intact carries a format version or an incompatible feature bit this build does
 * not know, or a read-only-compatible feature bit while the pool is opened for writing. Open
 * refuses the whole pool (it never falls back to an older generation to avoid such a slot: the
 * newer writer's data would be lost and its metadata misread). The message names the slot, the
 * generation, the bits and what to do. A subclass of {@link CorruptPoolException} so that callers
 * treating "cannot open this pool" alike need not change (as Lucene's
 * {@code IndexFormatTooNewException} extends {@code CorruptIndexException}).
 */
public final class UnsupportedPoolFormatException extends CorruptPoolException {

    /**
     * @param deviceName the backing device
     * @param message what is not supported, with the slot, generation and bits
     */
    public UnsupportedPoolFormatException(String deviceName, String message) {
        super(-1, "unsupported pool format on '" + deviceName + "': " + message);
    }
}

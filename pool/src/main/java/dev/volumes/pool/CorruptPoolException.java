package dev.volumes.pool;

import java.io.IOException;

/**
 * The pool's on-disk structures fail verification: a checksum, magic number, self address,
 * type, level, generation or pointer is not what was expected. The message names the device,
 * the block (or superblock slot) and what was expected versus found. Earlier attempts (for
 * example older superblock generations tried during open) are attached as suppressed exceptions.
 */
public class CorruptPoolException extends IOException {

    private final long block;

    /**
     * @param deviceName the backing device
     * @param block the block number that failed, or -1 for a superblock slot or the pool as a whole
     * @param message what was expected and what was found
     */
    public CorruptPoolException(String deviceName, long block, String message) {
        super("corrupt pool on '" + deviceName + "'" + (block >= 0 ? " at block " + block : "") + ": " + message);
        this.block = block;
    }

    /** For subclasses whose message is not about corruption: {@code message} is used as it is. */
    protected CorruptPoolException(long block, String message) {
        super(message);
        this.block = block;
    }

    /** The block that failed verification, or -1 if the failure is not about one block. */
    public long block() {
        return block;
    }
}

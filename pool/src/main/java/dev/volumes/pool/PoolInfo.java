package dev.volumes.pool;

import java.util.Objects;
import java.util.UUID;

/**
 * A snapshot of a pool's identity and space accounting. Block counts are in pool blocks of
 * {@code blockSize} bytes; the byte accessors multiply.
 *
 * @param uuid the pool's identity, fixed at creation
 * @param label the free-form label given at creation (may be empty)
 * @param formatVersion the on-disk format version (see docs/pool-format.md)
 * @param blockSize bytes per block
 * @param totalBlocks blocks in the backing device, superblock ring included
 * @param usedBlocks blocks holding live data or metadata, or freed but not yet reusable
 * @param freeBlocks blocks that ordinary writes may still allocate
 * @param reservedBlocks blocks held back for commits and for space-freeing operations
 * @param generation the generation of the newest durable commit
 */
public record PoolInfo(UUID uuid, String label, int formatVersion, int blockSize, long totalBlocks,
        long usedBlocks, long freeBlocks, long reservedBlocks, long generation) {

    public PoolInfo {
        Objects.requireNonNull(uuid, "uuid");
        Objects.requireNonNull(label, "label");
    }

    /** Bytes in the backing device that the pool uses. */
    public long totalBytes() {
        return totalBlocks * blockSize;
    }

    /** Bytes of used blocks. */
    public long usedBytes() {
        return usedBlocks * blockSize;
    }

    /** Bytes of free blocks. */
    public long freeBytes() {
        return freeBlocks * blockSize;
    }

    /** Bytes of reserved blocks. */
    public long reservedBytes() {
        return reservedBlocks * blockSize;
    }
}

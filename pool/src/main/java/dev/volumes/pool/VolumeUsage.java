package dev.volumes.pool;

/**
 * Space used by one volume, snapshot or clone ({@link Pool#usage}). Data blocks only: the map
 * nodes (about 0.2% of the data at 4 KiB blocks) are not counted.
 *
 * @param logicalSize the volume's size in bytes
 * @param mappedBytes bytes of data blocks its map points at (holes excluded)
 * @param exclusiveBytes bytes of data blocks no other volume reaches: what deleting it would free
 * @param sharedBytes {@code mappedBytes - exclusiveBytes}: blocks shared with snapshots or clones
 */
public record VolumeUsage(long logicalSize, long mappedBytes, long exclusiveBytes, long sharedBytes) {

    public VolumeUsage {
        if (logicalSize < 0 || mappedBytes < 0 || exclusiveBytes < 0 || sharedBytes < 0
                || exclusiveBytes + sharedBytes != mappedBytes) {
            throw new IllegalArgumentException("inconsistent usage: size " + logicalSize + ", mapped " + mappedBytes
                    + ", exclusive " + exclusiveBytes + ", shared " + sharedBytes);
        }
    }
}

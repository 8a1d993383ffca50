package dev.volumes.pool;

/**
 * A byte range whose content may differ between two volumes of one lineage ({@link Pool#diff}).
 * Block-aligned except where clipped to a volume's size.
 *
 * @param offset first byte
 * @param length bytes, positive
 */
public record ChangedRange(long offset, long length) {

    public ChangedRange {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("changed range needs offset >= 0 and length > 0: " + offset + ", "
                    + length);
        }
    }

    /** One past the last byte. */
    public long end() {
        return offset + length;
    }
}

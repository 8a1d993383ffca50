package dev.volumes.oci;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The config blob of a volumes image (format in docs/oci.md): the logical size, the chunk size and,
 * for every chunk window {@code [i*chunkSize, min((i+1)*chunkSize, size))}, the digest of its bytes
 * or null for a hole (all zeros, never stored). The last chunk's blob is the short tail.
 *
 * @param size logical bytes, not negative
 * @param chunkSize a power of two in [{@value ImageFormat#MIN_CHUNK}, {@value ImageFormat#MAX_CHUNK}]
 * @param chunks one entry per chunk window, null for a hole; unmodifiable
 */
public record ImageConfig(long size, int chunkSize, List<Digest> chunks) {

    public ImageConfig {
        if (size < 0) {
            throw new IllegalArgumentException("image size is negative: " + size);
        }
        ImageFormat.checkChunkSize(chunkSize);
        long expected = chunkCount(size, chunkSize);
        if (chunks == null || chunks.size() != expected) {
            throw new IllegalArgumentException("image of " + size + " bytes in chunks of " + chunkSize + " needs "
                    + expected + " chunk entries, has " + (chunks == null ? "none" : chunks.size()));
        }
        chunks = Collections.unmodifiableList(new ArrayList<>(chunks));
    }

    /** The number of chunk windows of an image of {@code size} bytes; throws if it exceeds an int. */
    static long chunkCount(long size, int chunkSize) {
        long n = (size + chunkSize - 1) / chunkSize;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("image of " + size + " bytes needs " + n + " chunks of " + chunkSize
                    + ": too many; use a larger chunk size");
        }
        return n;
    }

    /** The length of chunk {@code index}: the chunk size, or less for the tail. */
    public int chunkLength(int index) {
        return (int) Math.min(chunkSize, size - (long) index * chunkSize);
    }

    /** The number of chunk windows. */
    public int chunkCount() {
        return chunks.size();
    }
}

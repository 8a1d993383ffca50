package dev.volumes.oci;

import java.nio.file.Path;

/**
 * How an {@link ImageDevice} caches and prefetches. Immutable.
 *
 * @param cacheBytes memory cache bound in bytes, at least 0 (default 256 MiB)
 * @param cacheDirectory a directory keeping verified chunks across opens, or null for none
 * @param readAhead chunks fetched in the background after a sequential read, 0 to 64 (default 4)
 */
public record ImageOptions(long cacheBytes, Path cacheDirectory, int readAhead) {

    public ImageOptions {
        if (cacheBytes < 0) {
            throw new IllegalArgumentException("cache size is negative: " + cacheBytes);
        }
        if (readAhead < 0 || readAhead > 64) {
            throw new IllegalArgumentException("read-ahead must be in [0, 64] chunks: " + readAhead);
        }
    }

    /** 256 MiB memory cache, no disk cache, 4 chunks of read-ahead. */
    public static ImageOptions defaults() {
        return new ImageOptions(256L << 20, null, 4);
    }

    /** These options with a memory cache bound. */
    public ImageOptions withCacheBytes(long bytes) {
        return new ImageOptions(bytes, cacheDirectory, readAhead);
    }

    /** These options with a persistent cache directory. */
    public ImageOptions withCacheDirectory(Path dir) {
        return new ImageOptions(cacheBytes, dir, readAhead);
    }

    /** These options with a read-ahead depth. */
    public ImageOptions withReadAhead(int chunks) {
        return new ImageOptions(cacheBytes, cacheDirectory, chunks);
    }
}

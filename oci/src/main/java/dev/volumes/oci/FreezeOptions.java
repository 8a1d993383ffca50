package dev.volumes.oci;

import java.time.Instant;
import java.util.function.Consumer;

/**
 * How {@link OciImages#freeze} and {@link Overlay#commit} build an image. Immutable; start from
 * {@link #defaults()} and use the {@code with} methods.
 *
 * @param chunkSize chunk size in bytes (power of two, 4 KiB to 64 MiB; default 4 MiB)
 * @param parallelism chunks hashed and uploaded at once, 1 to 64 (default 4); memory is about
 *     {@code parallelism * chunkSize}
 * @param progress called after every chunk, from worker threads but never concurrently; must not block
 * @param created the creation-time annotation, or null for the current time
 * @param source the source annotation, or null for the device's name
 */
public record FreezeOptions(int chunkSize, int parallelism, Consumer<Progress> progress, Instant created,
        String source) {

    /**
     * Where a freeze or commit is.
     *
     * @param chunksDone chunk windows examined so far
     * @param chunksTotal chunk windows that have to be examined (holes known from extents are not counted)
     * @param bytesRead bytes read from the source
     * @param blobsUploaded blobs whose bytes were sent
     * @param bytesUploaded bytes sent in those blobs
     * @param blobsSkipped distinct blobs the registry already had (or that were mounted)
     */
    public record Progress(long chunksDone, long chunksTotal, long bytesRead, long blobsUploaded, long bytesUploaded,
            long blobsSkipped) {}

    public FreezeOptions {
        ImageFormat.checkChunkSize(chunkSize);
        if (parallelism < 1 || parallelism > 64) {
            throw new IllegalArgumentException("parallelism must be in [1, 64]: " + parallelism);
        }
        if (progress == null) {
            progress = p -> {};
        }
    }

    /** 4 MiB chunks, 4 in parallel, no progress reporting, created now, source = device name. */
    public static FreezeOptions defaults() {
        return new FreezeOptions(ImageFormat.DEFAULT_CHUNK, 4, null, null, null);
    }

    /** These options with {@code chunkSize}. */
    public FreezeOptions withChunkSize(int chunkSize) {
        return new FreezeOptions(chunkSize, parallelism, progress, created, source);
    }

    /** These options with {@code parallelism}. */
    public FreezeOptions withParallelism(int parallelism) {
        return new FreezeOptions(chunkSize, parallelism, progress, created, source);
    }

    /** These options with a progress callback. */
    public FreezeOptions withProgress(Consumer<Progress> progress) {
        return new FreezeOptions(chunkSize, parallelism, progress, created, source);
    }

    /** These options with a fixed creation time (reproducible manifests). */
    public FreezeOptions withCreated(Instant created) {
        return new FreezeOptions(chunkSize, parallelism, progress, created, source);
    }

    /** These options with a source annotation. */
    public FreezeOptions withSource(String source) {
        return new FreezeOptions(chunkSize, parallelism, progress, created, source);
    }
}

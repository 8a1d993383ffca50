package dev.volumes.s3;

import java.util.Objects;

/**
 * Where an {@link S3Device} lives and how it caches. Immutable; build with
 * {@link #builder(S3Client, String, String)}.
 *
 * @param client the S3 client (owned by the caller, who closes it after the device)
 * @param bucket the bucket
 * @param prefix key prefix, "" or ending in '/'
 * @param chunkSize bytes per chunk object (power of two, 4 KiB..64 MiB); only used by create
 * @param cacheBytes memory budget of the chunk cache (at least two chunks)
 * @param uploadConcurrency parallel uploads during sync and eviction (1..256)
 * @param readAheadChunks chunks loaded ahead of a sequential reader (0 = off)
 * @param readOnly open without taking the writer epoch; writes throw
 * @param takeOver open for write even if another writer holds the device (after a crash);
 *     the old writer is deposed and its next sync fails
 * @param allowUnsafeWithoutConditionalWrites permit writing on servers without conditional
 *     writes (a second writer can then not be refused)
 */
public record S3DeviceOptions(S3Client client, String bucket, String prefix, int chunkSize, long cacheBytes,
        int uploadConcurrency, int readAheadChunks, boolean readOnly, boolean takeOver,
        boolean allowUnsafeWithoutConditionalWrites) {

    /** Default chunk size: 1 MiB (see docs/s3.md for the measurement behind it). */
    public static final int DEFAULT_CHUNK_SIZE = 1 << 20;

    public S3DeviceOptions {
        Objects.requireNonNull(client, "client");
        if (bucket == null || bucket.isEmpty()) {
            throw new IllegalArgumentException("bucket is empty");
        }
        prefix = prefix == null ? "" : prefix;
        if (!prefix.isEmpty() && !prefix.endsWith("/")) {
            prefix = prefix + "/";
        }
        if (chunkSize < 4096 || Integer.bitCount(chunkSize) != 1 || chunkSize > (64 << 20)) {
            throw new IllegalArgumentException("chunk size must be a power of two in [4 KiB, 64 MiB]: " + chunkSize);
        }
        if (cacheBytes < 2L * chunkSize) {
            throw new IllegalArgumentException("cache budget " + cacheBytes + " must hold at least two chunks of "
                    + chunkSize);
        }
        if (uploadConcurrency < 1 || uploadConcurrency > 256) {
            throw new IllegalArgumentException("upload concurrency must be 1..256: " + uploadConcurrency);
        }
        if (readAheadChunks < 0 || readAheadChunks > 1024) {
            throw new IllegalArgumentException("read-ahead must be 0..1024 chunks: " + readAheadChunks);
        }
    }

    /** A builder with defaults: 1 MiB chunks, 256 MiB cache, 16 uploads, 4 chunks read-ahead. */
    public static Builder builder(S3Client client, String bucket, String prefix) {
        return new Builder(client, bucket, prefix);
    }

    /** Mutable builder. */
    public static final class Builder {
        private final S3Client client;
        private final String bucket;
        private final String prefix;
        private int chunkSize = DEFAULT_CHUNK_SIZE;
        private long cacheBytes = 256L << 20;
        private int uploadConcurrency = 16;
        private int readAheadChunks = 4;
        private boolean readOnly;
        private boolean takeOver;
        private boolean unsafe;

        private Builder(S3Client client, String bucket, String prefix) {
            this.client = client;
            this.bucket = bucket;
            this.prefix = prefix;
        }

        /** Bytes per chunk object for {@code create} (default 1 MiB); open reads it from the metadata. */
        public Builder chunkSize(int bytes) {
            this.chunkSize = bytes;
            return this;
        }

        /** Memory budget of the chunk cache (default 256 MiB). */
        public Builder cacheBytes(long bytes) {
            this.cacheBytes = bytes;
            return this;
        }

        /** Parallel uploads during sync and eviction (default 16). */
        public Builder uploadConcurrency(int n) {
            this.uploadConcurrency = n;
            return this;
        }

        /** Chunks loaded ahead of a sequential reader (default 4, 0 = off). */
        public Builder readAheadChunks(int n) {
            this.readAheadChunks = n;
            return this;
        }

        /** Open without taking the writer epoch (default false). */
        public Builder readOnly(boolean readOnly) {
            this.readOnly = readOnly;
            return this;
        }

        /** Depose a writer that still holds the device (after it crashed); default false. */
        public Builder takeOver(boolean takeOver) {
            this.takeOver = takeOver;
            return this;
        }

        /** Allow writing on servers without conditional writes (default false). */
        public Builder allowUnsafeWithoutConditionalWrites(boolean unsafe) {
            this.unsafe = unsafe;
            return this;
        }

        /** Validates and builds; {@link IllegalArgumentException} for out-of-range values. */
        public S3DeviceOptions build() {
            return new S3DeviceOptions(client, bucket, prefix, chunkSize, cacheBytes, uploadConcurrency,
                    readAheadChunks, readOnly, takeOver, unsafe);
        }
    }
}

package dev.volumes.pool;

import java.util.Objects;

/**
 * Immutable options for {@link Pool#create}. Build with {@link #builder()}; every setter
 * validates at once and {@link Builder#build()} returns an immutable value.
 *
 * <ul>
 *   <li>{@code blockSize}: bytes per pool block, a power of two from 4 KiB to 1 MiB; default
 *       {@value #DEFAULT_BLOCK_SIZE} (see docs/decisions/0002-pool-engine.md).</li>
 *   <li>{@code reserve}: bytes held back from ordinary writes so that space-freeing operations
 *       (delete, discard) can always commit on a full pool; rounded up to whole blocks. Default:
 *       1% of the pool, at least 16 blocks and at most 1 GiB. The catalog space every commit
 *       needs is reserved separately and automatically.</li>
 *   <li>{@code label}: free text up to 64 UTF-8 bytes, stored in the superblock.</li>
 * </ul>
 */
public final class PoolOptions {

    /** The default block size, 64 KiB. */
    public static final int DEFAULT_BLOCK_SIZE = 64 * 1024;
    /** Smallest block size, 4 KiB. */
    public static final int MIN_BLOCK_SIZE = 4096;
    /** Largest block size, 1 MiB. */
    public static final int MAX_BLOCK_SIZE = 1 << 20;
    /** Longest label in UTF-8 bytes. */
    public static final int MAX_LABEL_BYTES = 64;

    private static final PoolOptions DEFAULTS = builder().build();

    private final int blockSize;
    private final long reserve;
    private final String label;

    private PoolOptions(Builder b) {
        this.blockSize = b.blockSize;
        this.reserve = b.reserve;
        this.label = b.label;
    }

    /** Options with every default. */
    public static PoolOptions defaults() {
        return DEFAULTS;
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Bytes per block. */
    public int blockSize() {
        return blockSize;
    }

    /** The reserve in bytes, or -1 for the default (1% of the pool, 16 blocks to 1 GiB). */
    public long reserve() {
        return reserve;
    }

    /** The label, possibly empty. */
    public String label() {
        return label;
    }

    /** The reserve in blocks for a pool of {@code totalBlocks} blocks. */
    long reserveBlocks(long totalBlocks) {
        if (reserve >= 0) {
            return (reserve + blockSize - 1) / blockSize;
        }
        long onePercent = totalBlocks / 100;
        long cap = (1L << 30) / blockSize;
        return Math.max(16, Math.min(onePercent, cap));
    }

    /** A builder with these options as its starting point. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.blockSize = blockSize;
        b.reserve = reserve;
        b.label = label;
        return b;
    }

    @Override
    public String toString() {
        return "PoolOptions[blockSize=" + blockSize + ", reserve=" + (reserve < 0 ? "default" : reserve)
                + ", label=" + label + "]";
    }

    /** Mutable builder; not thread-safe. */
    public static final class Builder {
        private int blockSize = DEFAULT_BLOCK_SIZE;
        private long reserve = -1;
        private String label = "";

        private Builder() {}

        /**
         * Bytes per block.
         *
         * @throws IllegalArgumentException unless a power of two from 4 KiB to 1 MiB
         */
        public Builder blockSize(int bytes) {
            if (bytes < MIN_BLOCK_SIZE || bytes > MAX_BLOCK_SIZE || Integer.bitCount(bytes) != 1) {
                throw new IllegalArgumentException("pool block size must be a power of two from 4096 to 1048576 bytes: "
                        + bytes);
            }
            this.blockSize = bytes;
            return this;
        }

        /**
         * Bytes reserved for space-freeing operations (rounded up to blocks).
         *
         * @throws IllegalArgumentException if negative
         */
        public Builder reserve(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("pool reserve must not be negative: " + bytes);
            }
            this.reserve = bytes;
            return this;
        }

        /**
         * Free-text label.
         *
         * @throws IllegalArgumentException if longer than 64 UTF-8 bytes or containing a NUL
         */
        public Builder label(String label) {
            Objects.requireNonNull(label, "label");
            if (label.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_LABEL_BYTES
                    || label.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("pool label must be at most 64 UTF-8 bytes without NUL: '"
                        + label + "'");
            }
            this.label = label;
            return this;
        }

        /** The immutable options. */
        public PoolOptions build() {
            return new PoolOptions(this);
        }
    }
}

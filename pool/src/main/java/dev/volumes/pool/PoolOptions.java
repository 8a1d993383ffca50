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
 *   <li>{@code lowSpaceThreshold}: fraction (0, 1] of the data area in use at which the pool logs
 *       a warning and calls the {@code lowSpaceListener}, once per crossing (re-armed when usage
 *       falls back below); default {@value #DEFAULT_LOW_SPACE_THRESHOLD}.</li>
 *   <li>{@code discardFreed}: discard freed blocks on the backing device once the commit that
 *       freed them is durable (a pool file shrinks in {@code du}); default true.</li>
 * </ul>
 * The last three are runtime options: they also apply to {@link Pool#open(dev.volumes.device.Device, PoolOptions)},
 * which ignores the format options (block size, reserve, label) stored in the pool.
 */
public final class PoolOptions {

    /** The default block size, 4 KiB (chosen by measurement: docs/decisions/0002-pool-engine.md). */
    public static final int DEFAULT_BLOCK_SIZE = 4096;
    /** Smallest block size, 4 KiB. */
    public static final int MIN_BLOCK_SIZE = 4096;
    /** Largest block size, 1 MiB. */
    public static final int MAX_BLOCK_SIZE = 1 << 20;
    /** Longest label in UTF-8 bytes. */
    public static final int MAX_LABEL_BYTES = 64;

    /** Default low-space threshold: 90% of the data area used. */
    public static final double DEFAULT_LOW_SPACE_THRESHOLD = 0.9;

    private static final PoolOptions DEFAULTS = builder().build();

    private final int blockSize;
    private final long reserve;
    private final String label;
    private final double lowSpaceThreshold;
    private final LowSpaceListener lowSpaceListener;
    private final boolean discardFreed;

    private PoolOptions(Builder b) {
        this.blockSize = b.blockSize;
        this.reserve = b.reserve;
        this.label = b.label;
        this.lowSpaceThreshold = b.lowSpaceThreshold;
        this.lowSpaceListener = b.lowSpaceListener;
        this.discardFreed = b.discardFreed;
    }

    /** Fraction of the data area in use that triggers the low-space warning. */
    public double lowSpaceThreshold() {
        return lowSpaceThreshold;
    }

    /** The listener called on a low-space crossing, or null (the warning is logged either way). */
    public LowSpaceListener lowSpaceListener() {
        return lowSpaceListener;
    }

    /** Whether freed blocks are discarded on the backing device. */
    public boolean discardFreed() {
        return discardFreed;
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
        b.lowSpaceThreshold = lowSpaceThreshold;
        b.lowSpaceListener = lowSpaceListener;
        b.discardFreed = discardFreed;
        return b;
    }

    @Override
    public String toString() {
        return "PoolOptions[blockSize=" + blockSize + ", reserve=" + (reserve < 0 ? "default" : reserve)
                + ", label=" + label + ", lowSpaceThreshold=" + lowSpaceThreshold + ", discardFreed=" + discardFreed
                + "]";
    }

    /** Mutable builder; not thread-safe. */
    public static final class Builder {
        private int blockSize = DEFAULT_BLOCK_SIZE;
        private long reserve = -1;
        private String label = "";
        private double lowSpaceThreshold = DEFAULT_LOW_SPACE_THRESHOLD;
        private LowSpaceListener lowSpaceListener;
        private boolean discardFreed = true;

        private Builder() {}

        /**
         * Fraction of the data area in use at which the low-space warning fires.
         *
         * @throws IllegalArgumentException unless {@code 0 < fraction <= 1}
         */
        public Builder lowSpaceThreshold(double fraction) {
            if (!(fraction > 0 && fraction <= 1)) {
                throw new IllegalArgumentException("low-space threshold must be in (0, 1]: " + fraction);
            }
            this.lowSpaceThreshold = fraction;
            return this;
        }

        /** Called (on the thread whose allocation crossed the threshold, no lock held); null for none. */
        public Builder lowSpaceListener(LowSpaceListener listener) {
            this.lowSpaceListener = listener;
            return this;
        }

        /** Whether freed blocks are discarded on the backing device (default true). */
        public Builder discardFreed(boolean discard) {
            this.discardFreed = discard;
            return this;
        }

        /**
         * Bytes per block.
         *
         * @throws IllegalArgumentException unless a power of two from 4 KiB to 1 MiB
         */
        public Builder blockSize(int bytes) {
            if (bytes < MIN_BLOCK_SIZE || bytes > MAX_BLOCK_SIZE || Integer.bitCount(bytes) != 1) {
                throw new IllegalArgumentException("pool block size must be a power of two from " + MIN_BLOCK_SIZE
                        + " to " + MAX_BLOCK_SIZE + " bytes: " + bytes);
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
                throw new IllegalArgumentException("pool reserve must not be negative: " + bytes + " bytes");
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
            int bytes = label.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (bytes > MAX_LABEL_BYTES) {
                throw new IllegalArgumentException("pool label is " + bytes + " UTF-8 bytes, at most "
                        + MAX_LABEL_BYTES + " fit: '" + label + "'");
            }
            if (label.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("pool label contains a NUL character (at index "
                        + label.indexOf('\0') + "); the superblock stores it zero padded");
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

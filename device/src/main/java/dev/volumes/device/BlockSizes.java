package dev.volumes.device;

/**
 * Block-size constraints of a device, as NBD {@code INFO_BLOCK_SIZE} advertises them.
 *
 * @param minimum smallest request granularity in bytes (power of two, 1 to 64 KiB)
 * @param preferred size and alignment that performs best (power of two, at least minimum)
 * @param maximum largest payload of one request (multiple of minimum)
 */
public record BlockSizes(int minimum, int preferred, int maximum) {

    /** 1-byte granularity, 4 KiB preferred, 32 MiB maximum payload. */
    public static final BlockSizes DEFAULT = new BlockSizes(1, 4096, 32 << 20);

    public BlockSizes {
        if (minimum < 1 || Integer.bitCount(minimum) != 1 || minimum > 65536) {
            throw new IllegalArgumentException("minimum block size must be a power of two in [1, 65536]: " + minimum);
        }
        if (preferred < minimum || Integer.bitCount(preferred) != 1) {
            throw new IllegalArgumentException("preferred block size must be a power of two >= minimum: " + preferred);
        }
        if (maximum < preferred || maximum % minimum != 0) {
            throw new IllegalArgumentException("maximum block size must be >= preferred and a multiple of minimum: " + maximum);
        }
    }
}

package dev.volumes.device;

/** Optional behaviours a {@link Device} really implements (as opposed to emulating them). */
public enum Capability {
    /** Writes, write-zeroes, discard and resize throw {@link ReadOnlyDeviceException}. */
    READ_ONLY,
    /** {@link WriteFlag#FUA} is cheaper than a write followed by a full sync. */
    FUA,
    /** {@link Device#discard} really deallocates. */
    DISCARD,
    /** After {@link Device#discard}, the range reads as zeros. */
    DISCARD_READS_ZEROES,
    /** {@link Device#writeZeroes} is implemented without writing zero buffers. */
    WRITE_ZEROES,
    /** {@link Device#writeZeroes} with {@code mayUnmap} deallocates. */
    WRITE_ZEROES_UNMAP,
    /** {@link Device#extents} reports real holes and zero runs. */
    EXTENTS,
    /** {@link Device#resize} is supported. */
    RESIZE,
    /** {@link Device#prefetch} really loads data into a cache. */
    PREFETCH,
    /** Every data is lost when the process ends (memory devices); sync is a no-op. */
    VOLATILE
}

package dev.volumes.device;

/**
 * One run of an allocation map returned by {@link Device#extents(long, long)}.
 *
 * @param offset first byte of the run
 * @param length bytes in the run, positive
 * @param type what the run holds
 */
public record Extent(long offset, long length, Type type) {

    /** The kind of run; maps onto NBD {@code base:allocation} (HOLE = hole|zero, ZERO = zero). */
    public enum Type {
        /** Allocated; may hold anything. */
        DATA,
        /** Allocated, reads as zeros. */
        ZERO,
        /** Not allocated, reads as zeros. */
        HOLE;

        /** Whether a run of this type is promised to read as zeros. */
        public boolean readsAsZeros() {
            return this != DATA;
        }
    }

    public Extent {
        if (offset < 0 || length <= 0 || offset + length < 0) {
            throw new IllegalArgumentException("bad extent offset=" + offset + " length=" + length);
        }
        if (type == null) {
            throw new IllegalArgumentException("extent type is null");
        }
    }

    /** The first byte after the run. */
    public long end() {
        return offset + length;
    }

    /**
     * Appends the run {@code [offset, offset + length)} to {@code runs}, extending the last run
     * instead when it has the same type and ends at {@code offset}: the merged form that
     * {@link Device#extents} promises. {@code runs} must be mutable.
     */
    public static void append(java.util.List<Extent> runs, long offset, long length, Type type) {
        if (!runs.isEmpty()) {
            Extent last = runs.getLast();
            if (last.type == type && last.end() == offset) {
                runs.set(runs.size() - 1, new Extent(last.offset, last.length + length, type));
                return;
            }
        }
        runs.add(new Extent(offset, length, type));
    }
}

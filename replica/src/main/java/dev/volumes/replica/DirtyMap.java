package dev.volumes.replica;

import java.util.BitSet;

/**
 * The dirty-region bitmap, used both as an activity log and as the delta-rebuild record.
 *
 * <p>Invariant (what makes delta rebuild and restart resync correct): a region in which two
 * replicas of the set may hold different bytes has its bit set in the <em>persisted</em> bitmap.
 * Writes keep it by setting their regions' bits (and having them persisted, see
 * {@link #begin}) before they reach any replica; bits are cleared only by
 * {@link #clearQuiescent} after a sync that every replica of the set completed while in sync, for
 * regions with no write in flight, none started since that sync began and none ended after the
 * latest sync began (a write still in flight when a sync starts is not covered by it).
 *
 * <p>Thread-safe: one monitor guards bits, in-flight counts and start sequence numbers; nothing
 * blocks while holding it. Memory: one bit, one int and three longs per region.
 */
final class DirtyMap {

    private final long regionSize;
    private final int regions;
    private final BitSet bits = new BitSet();
    private final int[] inflight;
    private final long[] lastStart;
    private final long[] lastEnd;
    /** The version at which each region's bit was last set (0: loaded, already durable). */
    private final long[] setAt;
    private long sequence;
    private long version;

    DirtyMap(long dataSize, long regionSize, byte[] persisted) {
        this.regionSize = regionSize;
        this.regions = StateRecord.regions(dataSize, regionSize);
        this.inflight = new int[regions];
        this.lastStart = new long[regions];
        this.lastEnd = new long[regions];
        this.setAt = new long[regions];
        if (persisted != null) {
            bits.or(BitSet.valueOf(persisted));
            bits.clear(regions, Math.max(regions, bits.length()));
        }
    }

    long regionSize() {
        return regionSize;
    }

    int regions() {
        return regions;
    }

    /**
     * Registers a write of {@code [offset, offset + length)} in flight and sets its bits.
     *
     * @return the version the persisted bitmap must reach before the write may touch a replica:
     *     the newest version at which one of its bits was set, also when another write set it and
     *     may still be publishing it (0 if its bits were loaded from disk)
     */
    synchronized long begin(long offset, long length) {
        boolean newly = false;
        int first = (int) (offset / regionSize);
        int last = (int) ((offset + Math.max(1, length) - 1) / regionSize);
        for (int r = first; r <= last; r++) {
            if (!bits.get(r)) {
                newly = true;
            }
        }
        if (newly) {
            version++;
        }
        long need = 0;
        for (int r = first; r <= last; r++) {
            inflight[r]++;
            lastStart[r] = ++sequence;
            if (!bits.get(r)) {
                bits.set(r);
                setAt[r] = version;
            }
            need = Math.max(need, setAt[r]);
        }
        return need;
    }

    /** Ends a write registered by {@link #begin}. */
    synchronized void end(long offset, long length) {
        int first = (int) (offset / regionSize);
        int last = (int) ((offset + Math.max(1, length) - 1) / regionSize);
        long seq = ++sequence;
        for (int r = first; r <= last; r++) {
            inflight[r]--;
            lastEnd[r] = seq;
        }
    }

    /** A mark to pass to {@link #clearQuiescent} after a sync that began after this call. */
    synchronized long mark() {
        return sequence;
    }

    /**
     * Clears the bits of regions with no write in flight, none started after {@code mark} and
     * none ended after {@code synced}. Call only after every replica of the set completed a sync
     * that began after {@code synced} (and {@code mark <= synced}), while all of them were in sync:
     * a write that ended before the sync began is durable on every replica. The clears reach disk
     * with the next commit (a bit left set only costs an extra copy).
     */
    synchronized void clearQuiescent(long mark, long synced) {
        for (int r = bits.nextSetBit(0); r >= 0; r = bits.nextSetBit(r + 1)) {
            if (inflight[r] == 0 && lastStart[r] <= mark && lastEnd[r] <= synced) {
                bits.clear(r);
            }
        }
        version++;
    }

    /**
     * Sets the bits covering every region set in {@code other}, a bitmap of regions of
     * {@code otherRegionSize} bytes (another writer's granularity).
     */
    synchronized void or(byte[] other, long otherRegionSize) {
        bits.or(regionsOf(other, otherRegionSize));
        version++;
    }

    /**
     * The regions of this map covering every region set in {@code other}, a bitmap of regions of
     * {@code otherRegionSize} bytes (another writer's granularity).
     */
    BitSet regionsOf(byte[] other, long otherRegionSize) {
        BitSet out = new BitSet();
        BitSet o = BitSet.valueOf(other);
        for (int r = o.nextSetBit(0); r >= 0; r = o.nextSetBit(r + 1)) {
            long start = r * otherRegionSize;
            long end = start + otherRegionSize;
            if (start >= (long) regions * regionSize) {
                break;
            }
            int first = (int) (start / regionSize);
            int last = (int) Math.min(regions - 1, (end - 1) / regionSize);
            out.set(first, last + 1);
        }
        return out;
    }

    /** Marks every region dirty (a replica without usable history joins). */
    synchronized long setAll() {
        bits.set(0, regions);
        return ++version;
    }

    /** The current version (to persist up to). */
    synchronized long version() {
        return version;
    }

    /** A copy of the bits and the version it reflects. */
    synchronized Snapshot snapshot() {
        byte[] out = new byte[(regions + 7) / 8];
        byte[] b = bits.toByteArray();
        System.arraycopy(b, 0, out, 0, Math.min(b.length, out.length));
        return new Snapshot(out, version);
    }

    /** Dirty regions now, as a bit set (a copy). */
    synchronized BitSet dirtyRegions() {
        return (BitSet) bits.clone();
    }

    synchronized int dirtyCount() {
        return bits.cardinality();
    }

    record Snapshot(byte[] bitmap, long version) {}
}

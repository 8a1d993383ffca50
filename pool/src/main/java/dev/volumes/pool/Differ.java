package dev.volumes.pool;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Changed extents between two volumes of one lineage: walks both maps together under the
 * metadata read lock, skipping every subtree whose pointers are equal (shared nodes are
 * identical, since committed nodes never change and a dirty node has one owner). Maps of
 * different depth are aligned by treating the shallower one as the first entry of virtual upper
 * levels. Two leaf entries differ unless equal or both read as zeros (a hole, or ZEROED).
 */
final class Differ {

    private final Engine e;
    private final List<ChangedRange> out = new ArrayList<>();
    private long runStart = -1;
    private long runEnd = -1;

    Differ(Engine engine) {
        this.e = engine;
    }

    List<ChangedRange> diff(String olderName, String newerName) throws IOException {
        e.meta.readLock().lock();
        try {
            Volume a = e.volumes.get(olderName);
            Volume b = e.volumes.get(newerName);
            if (a == null || b == null) {
                throw new VolumeNotFoundException(e.device.name(), a == null ? olderName : newerName);
            }
            if (!oneLineage(a, b)) {
                throw new IllegalArgumentException("diff of '" + olderName + "' and '" + newerName
                        + "': they are not of one lineage (neither descends from the other and they share no origin)");
            }
            long limit = Math.max(a.size, b.size);
            long blocks = (limit + e.blockSize - 1) / e.blockSize;
            int depth = Math.max(a.depth, b.depth);
            long ra = lift(a.root, a.depth, depth);
            long rb = lift(b.root, b.depth, depth);
            compare(ra, a.depth, rb, b.depth, depth - 1, 0, blocks);
            flush();
            List<ChangedRange> clipped = new ArrayList<>();
            for (ChangedRange r : out) {
                long end = Math.min(r.end(), limit);
                if (end > r.offset()) {
                    clipped.add(new ChangedRange(r.offset(), end - r.offset()));
                }
            }
            return clipped;
        } finally {
            e.meta.readLock().unlock();
        }
    }

    /** A root of a map with {@code depth} levels seen at {@code target} levels: virtual nodes above it. */
    private static long lift(long root, int depth, int target) {
        return depth == target ? root : root == 0 ? 0 : -root; // negative marks "virtual ancestors"
    }

    private boolean oneLineage(Volume a, Volume b) {
        if (a.lineage != 0 && a.lineage == b.lineage) {
            return true;
        }
        Set<Long> ancestors = new HashSet<>();
        for (Volume v = a; v != null; v = byId(v.originId)) {
            ancestors.add(v.id);
            if (v.originId != 0) {
                ancestors.add(v.originId);
            }
        }
        for (Volume v = b; v != null; v = byId(v.originId)) {
            if (ancestors.contains(v.id) || (v.originId != 0 && ancestors.contains(v.originId))) {
                return true;
            }
        }
        return false;
    }

    private Volume byId(long id) {
        if (id == 0) {
            return null;
        }
        for (Volume v : e.volumes.values()) {
            if (v.id == id) {
                return v;
            }
        }
        return null;
    }

    /**
     * Child {@code i} of a (possibly virtual) node at {@code level}. A virtual node (negative
     * pointer -root) stands for the levels above a shallower map whose own root has {@code depth}
     * levels: its child 0 is the real root once the level reaches {@code depth - 1}.
     */
    private long child(long ptr, int depth, int level, int i) {
        if (ptr == 0) {
            return 0;
        }
        if (ptr < 0) {
            if (i != 0) {
                return 0;
            }
            return level - 1 == depth - 1 ? -ptr : ptr;
        }
        return e.nodes.get(ptr).entries[i];
    }

    private void compare(long pa, int da, long pb, int db, int level, long base, long limitBlocks) {
        if (pa == pb || base >= limitBlocks) {
            return; // the same subtree (or both holes)
        }
        if (level < 0) {
            boolean zeroA = pa == 0 || (pa & MetaBlock.ENTRY_ZEROED) != 0;
            boolean zeroB = pb == 0 || (pb & MetaBlock.ENTRY_ZEROED) != 0;
            if (!(zeroA && zeroB)) {
                changed(base, base + 1);
            }
            return;
        }
        long span = e.pow[level];
        for (int i = 0; i < e.fanout; i++) {
            long lo = base + i * span;
            if (lo >= limitBlocks) {
                break;
            }
            compare(child(pa, da, level, i), da, child(pb, db, level, i), db, level - 1, lo, limitBlocks);
        }
    }

    private void changed(long fromBlock, long toBlock) {
        if (fromBlock == runEnd) {
            runEnd = toBlock;
            return;
        }
        flush();
        runStart = fromBlock;
        runEnd = toBlock;
    }

    private void flush() {
        if (runStart >= 0) {
            out.add(new ChangedRange(runStart * e.blockSize, (runEnd - runStart) * e.blockSize));
        }
        runStart = -1;
        runEnd = -1;
    }
}

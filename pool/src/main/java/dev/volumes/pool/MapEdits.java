package dev.volumes.pool;

/**
 * Lifecycle edits of volume maps: dropping a reference to a subtree (delete, shrink, a failed
 * import), truncating a map past a size, adding levels on top of a root, and walking the mapped
 * entries of a range. Every method runs with the engine's metadata lock held and follows the
 * engine's copy-on-write rules: a node is changed only after {@link Engine#writable} made it
 * dirty and exclusive, blocks whose count reaches 0 are freed deferred, and a block still
 * referenced elsewhere is pinned when a reference to it is dropped.
 */
final class MapEdits {

    private final Engine e;

    MapEdits(Engine engine) {
        this.e = engine;
    }

    /**
     * Drops one reference to a map entry: a data block ({@code level < 0}) or a node at
     * {@code level}. A node whose count reaches 0 is freed (deferred) and drops its children;
     * a block still referenced elsewhere is pinned, since the committed tree may reach it by
     * the path being dropped. Meta held.
     */
    void dropRef(long entry, int level, Volume by) {
        long block = entry & MetaBlock.ENTRY_BLOCK;
        if (level < 0) {
            e.freeRef(block, by);
            return;
        }
        int r = e.space.decRef(block);
        if (r > 0) {
            e.space.pin(block, e.txn);
            return;
        }
        e.space.deferFree(block, e.txn);
        Node n = e.nodes.remove(block);
        for (long child : n.entries) {
            if (child != 0) {
                dropRef(child, level - 1, by);
            }
        }
    }

    /** Sets a parent's pointer (or the root) to {@code n}. Meta held. */
    private void link(Volume v, Node parent, int parentIndex, Node n) {
        if (parent == null) {
            if (v.root != n.block) {
                v.root = n.block;
                e.catalogDirty = true;
            }
        } else {
            parent.entries[parentIndex] = n.block;
        }
    }

    /**
     * Unmaps every logical block at or past {@code keepBlocks}: shadows the path of the last kept
     * block (at most {@code depth} nodes from the caller's reservation) and drops every entry to
     * its right. Meta held.
     */
    void truncate(Volume v, long keepBlocks) {
        if (v.root == 0) {
            return;
        }
        if (keepBlocks == 0) {
            dropRef(v.root, v.depth - 1, v);
            v.root = 0;
            e.catalogDirty = true;
            v.mapped = 0;
            return;
        }
        long lb = keepBlocks - 1;
        Node parent = null;
        int parentIndex = -1;
        long cur = v.root;
        for (int level = v.depth - 1; level >= 0 && cur != 0; level--) {
            Node n = e.writable(e.nodes.get(cur), v.id);
            link(v, parent, parentIndex, n);
            int idx = e.index(lb, level);
            for (int i = idx + 1; i < e.fanout; i++) {
                if (n.entries[i] != 0) {
                    dropRef(n.entries[i], level - 1, v);
                    n.entries[i] = 0;
                }
            }
            parent = n;
            parentIndex = idx;
            cur = n.entries[idx];
        }
        v.mapped = e.mappedBlocks(v);
    }

    /** Adds map levels on top of the root until the volume has {@code depth} levels. Meta held, reserved. */
    void deepen(Volume v, int depth) {
        while (v.depth < depth) {
            if (v.root != 0) {
                Node n = e.newNode(v.depth, v.id);
                n.entries[0] = v.root;
                v.root = n.block;
            }
            v.depth++;
            e.catalogDirty = true;
        }
    }

    /** Receives mapped leaf entries in ascending logical block order. */
    interface EntryVisitor {
        void visit(long lb, long entry);
    }

    /** Visits the mapped leaf entries of logical blocks {@code [from, to)}, skipping hole subtrees. Meta held. */
    void forEachMapped(Volume v, long from, long to, EntryVisitor visitor) {
        forEachMapped(v, from, to, Long.MAX_VALUE, visitor);
    }

    /**
     * Visits at most {@code max} mapped leaf entries of logical blocks {@code [from, to)} in
     * ascending order, skipping hole subtrees, and returns where to resume: the logical block of
     * the first mapped entry not visited, or {@code to} if none is left. A walk of a range in
     * such steps visits each entry once (the caller may release the metadata lock between steps
     * as long as nothing changes the volume's entries). Meta held.
     */
    long forEachMapped(Volume v, long from, long to, long max, EntryVisitor visitor) {
        if (v.root == 0 || from >= to) {
            return to;
        }
        long[] walk = {max, to}; // budget left, resume point
        collect(v.root, v.depth - 1, 0, from, to, visitor, walk);
        return walk[1];
    }

    /**
     * Appends the allocation runs of bytes {@code [offset, end)} of the volume to {@code out},
     * merged: DATA for mapped entries, ZERO for ZEROED entries, HOLE for everything else. Walks
     * only the mapped part of the map (hole subtrees are skipped), so the cost is proportional
     * to the mapped entries of the range. Meta held.
     */
    void extents(Volume v, long offset, long end, java.util.List<dev.volumes.device.Extent> out) {
        int bs = e.blockSize;
        long fromLb = offset / bs;
        long toLb = (end + bs - 1) / bs;
        long[] next = {fromLb};
        forEachMapped(v, fromLb, toLb, (lb, entry) -> {
            if (lb > next[0]) {
                run(out, next[0], lb, offset, end, dev.volumes.device.Extent.Type.HOLE);
            }
            run(out, lb, lb + 1, offset, end, (entry & MetaBlock.ENTRY_ZEROED) != 0
                    ? dev.volumes.device.Extent.Type.ZERO : dev.volumes.device.Extent.Type.DATA);
            next[0] = lb + 1;
        });
        if (next[0] < toLb) {
            run(out, next[0], toLb, offset, end, dev.volumes.device.Extent.Type.HOLE);
        }
    }

    private void run(java.util.List<dev.volumes.device.Extent> out, long fromLb, long toLb, long offset, long end,
            dev.volumes.device.Extent.Type type) {
        long from = Math.max(offset, fromLb * e.blockSize);
        long to = Math.min(end, toLb * e.blockSize);
        if (to > from) {
            dev.volumes.device.Extent.append(out, from, to - from, type);
        }
    }

    /** Returns true when the walk stopped at its budget ({@code walk[1]} is then the resume point). */
    private boolean collect(long block, int level, long base, long from, long to, EntryVisitor visitor,
            long[] walk) {
        Node n = e.nodes.get(block);
        long span = e.pow[level];
        int i0 = (int) Math.max(0, Math.min(e.fanout, (from - base) / span));
        for (int i = i0; i < e.fanout; i++) {
            long lo = base + i * span;
            if (lo >= to) {
                break;
            }
            long e = n.entries[i];
            if (e == 0 || lo + span <= from) {
                continue;
            }
            if (level == 0) {
                if (walk[0] == 0) {
                    walk[1] = lo;
                    return true;
                }
                walk[0]--;
                visitor.visit(lo, e);
            } else if (collect(e, level - 1, lo, from, to, visitor, walk)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Frees the map nodes on the path of {@code lb} that hold no entry any more (bottom up; a
     * root that empties makes the volume all holes). Only nodes that are dirty and exclusive are
     * detached, so the parent they are detached from is dirty too (the caller's {@code setEntry}
     * shadowed the whole path). Meta held.
     */
    void prune(Volume v, long lb) {
        int depth = v.depth;
        Node[] path = new Node[depth];
        long cur = v.root;
        for (int level = depth - 1; level >= 0; level--) {
            if (cur == 0) {
                return;
            }
            Node n = e.nodes.get(cur);
            path[level] = n;
            cur = n.entries[e.index(lb, level)];
        }
        for (int level = 0; level < depth; level++) {
            Node n = path[level];
            if (!n.dirty || e.space.rc(n.block) != 1 || e.space.pinned(n.block) || !empty(n)) {
                return;
            }
            if (level == depth - 1) {
                v.root = 0;
                e.catalogDirty = true;
            } else {
                Node parent = path[level + 1];
                if (!parent.dirty || e.space.rc(parent.block) != 1) {
                    return;
                }
                parent.entries[e.index(lb, level + 1)] = 0;
            }
            dropRef(n.block, level, v);
        }
    }

    private static boolean empty(Node n) {
        for (long entry : n.entries) {
            if (entry != 0) {
                return false;
            }
        }
        return true;
    }
}

package dev.volumes.pool;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Discard and write-zeroes on one volume ({@link VolumeDevice#discard},
 * {@link VolumeDevice#writeZeroes}, and the tail zeroing of a volume grow): map operations over
 * the whole range, planned and reserved once, published in bounded steps.
 *
 * <p>What happens to each block of the range:
 * <table>
 *   <caption>per block</caption>
 *   <tr><th>block</th><th>with unmap (discard)</th><th>without unmap</th></tr>
 *   <tr><td>fully covered</td><td>entry cleared (a hole), reference dropped</td>
 *       <td>entry ZEROED: a block this volume owns alone is kept and marked; a hole or a shared
 *       block gets a new block, marked, never written</td></tr>
 *   <tr><td>partially covered, holding data</td><td colspan="2">zeros written into it in place, or
 *       into a copy (copy-on-write) if it is shared or pinned</td></tr>
 *   <tr><td>partially covered, hole or ZEROED</td><td>unchanged (reads zeros already)</td>
 *       <td>as a fully covered block: it reads zeros whole, so it becomes a ZEROED entry owned
 *       alone</td></tr>
 * </table>
 * So without unmap every block the range touches ends allocated to this volume alone and reads
 * as zeros. A later write there lands in place (zero-filling what it does not cover; clearing the
 * ZEROED bit may shadow map nodes) when {@link Engine#placement} allows it: at once for blocks
 * this call allocated, but a kept block may be pinned ({@link Engine#exclusive} ignores pins,
 * and shadowing a pinned node pins its children), and then needs a new block until two commits
 * have passed ({@code WriteZeroesTest.aKeptButPinnedZeroedBlockNeedsANewBlockForTheNextWriteUntilTwoCommitsPass}).
 * Replacing pinned blocks here instead would take more space exactly when a snapshot was just
 * deleted to make room, so the pin is documented, not avoided.
 *
 * <p>Locking: the volume's {@code rw} lock exclusively for the whole call (no read, write,
 * snapshot or clone of the volume is in flight or can start, so no stripe locks are needed, no
 * other operation can change this volume's entries, and none of them sees a half-applied call).
 * The pool-wide metadata lock is never held for the whole range: planning walks it in steps
 * under the read lock, the check and the reservation are one step under the write lock, and
 * publishing applies the plan in steps of at most {@link #STEP} entries under the write lock,
 * releasing it between steps, so reads, writes and commits of other volumes interleave with a
 * large call. Zeros are written into partial blocks holding no pool-wide lock. Memory is
 * bounded by one step (two lists of at most {@link #STEP} longs), not by the range.
 *
 * <p>Atomic pool-full: planning computes the worst case of new blocks for the whole range (new
 * data blocks, copies of partial blocks, every map node on the paths of the entries that
 * change, and {@code depth} nodes per step boundary, because a commit between two steps makes
 * the nodes of the earlier step clean and the next step may shadow again the one node per level
 * that spans the boundary) and reserves it once, or throws {@code NoSpaceException} having
 * changed nothing. Other volumes can only make this volume's blocks less shared while the call
 * runs (a block owned alone stays owned alone), so publishing never needs more than was
 * reserved; what it did not use is returned at the end. Unmapping may use the space-freeing
 * reserve; allocating zeroes may not.
 *
 * <p>Crash: a commit between two steps (a sync of another volume) makes a prefix of the call
 * durable, like any write that has not returned: after a crash each block of the range reads
 * its old bytes or zeros.
 */
final class Zeroer {

    /**
     * The most map entries one step handles under the metadata lock: fully covered blocks per
     * step without unmap, mapped entries per step with unmap (a 4 GiB request at 4 KiB blocks
     * is 128 steps). The re-shadowing reserve is {@code depth} blocks per step boundary.
     */
    static final int STEP = 8192;

    /** What happens to a partially covered block. */
    private static final int NOTHING = 0;
    private static final int ZERO_IN_PLACE = 1;
    private static final int ZERO_COPY = 2;
    private static final int MARK_NEW = 3;

    /** Called between two publishing steps (tests). */
    interface StepHook {
        /**
         * Runs on the zeroing thread with no pool-wide lock held (the volume's exclusive lock is
         * held, so reads of this volume on this thread work); {@code nextLb} is where the next
         * step starts. Must not throw.
         */
        void between(Volume v, long nextLb);
    }

    private final Engine e;
    /** Entries per step; {@link #STEP} except in tests. Set before the zeroer is used. */
    int step = STEP;
    volatile StepHook stepHook;

    Zeroer(Engine engine) {
        this.e = engine;
    }

    void zero(Volume v, long offset, long length, boolean unmap, String op) throws IOException {
        if (length == 0) {
            return;
        }
        Call c = new Call(v, offset, length, unmap, op);
        boolean crossed;
        v.rw.writeLock().lock();
        try {
            DataPath.checkRange(v, op, offset, length);
            c.plan();
            try {
                zeroPartials(c.partial, c.np, c.action, c.pold, c.ptarget, offset, offset + length);
            } catch (IOException | RuntimeException | Error failure) {
                c.abandon();
                throw failure;
            }
            crossed = c.publish();
        } finally {
            v.rw.writeLock().unlock();
        }
        if (crossed) {
            e.fireLowSpace();
        }
    }

    /** One discard or write-zeroes call: its range, its plan and its reservation. */
    private final class Call implements MapEdits.EntryVisitor {
        final Volume v;
        final boolean unmap;
        final String op;
        final String what;
        final long firstFull;
        final long endFull;
        /** Partially covered blocks, ascending: the head and the tail (at most two). */
        final long[] partial = new long[2];
        int np;
        final int[] action = new int[2];
        final long[] pold = new long[2];
        final long[] ptarget = new long[2];
        int copies;
        long reserved;
        /** Publishing steps the plan allowed for (each boundary may re-shadow one node per level). */
        long steps;

        // the planning walk (visit)
        private Engine.PathCounter paths;
        private long cursor;
        private long holes;
        private long shared;
        private long mapped;

        Call(Volume v, long offset, long length, boolean unmap, String op) {
            this.v = v;
            this.unmap = unmap;
            this.op = op;
            this.what = op + " of " + length + " bytes at offset " + offset;
            int bs = e.blockSize;
            long end = offset + length;
            long headLb = offset / bs;
            long tailLb = (end - 1) / bs;
            firstFull = (offset + bs - 1) / bs;
            endFull = Math.max(firstFull, end / bs);
            if (offset % bs != 0 || end < (headLb + 1) * bs) {
                partial[np++] = headLb;
            }
            if (end % bs != 0 && tailLb != headLb) {
                partial[np++] = tailLb;
            }
        }

        /**
         * Plans the whole range and reserves its worst case, or throws {@code NoSpaceException}
         * having changed nothing. The walk takes the metadata read lock per step of at most
         * {@link #step} mapped entries (hole runs are counted, not walked); nothing can change
         * this volume's entries meanwhile (its exclusive lock is held) and other volumes can only
         * make its blocks less shared, so the sum stays an upper bound. The check against free
         * space and the reservation are one step under the write lock.
         */
        void plan() throws IOException {
            paths = e.new PathCounter(v.depth);
            long fresh = 0;
            e.meta.readLock().lock();
            try {
                e.ensureWritable(op + " on volume '" + v.name + "'");
                for (int i = 0; i < np; i++) {
                    pold[i] = e.lookup(v, partial[i]);
                    action[i] = partialAction(v, partial[i], pold[i], unmap);
                    if (action[i] == ZERO_COPY || action[i] == MARK_NEW) {
                        fresh++;
                        copies += action[i] == ZERO_COPY ? 1 : 0;
                    }
                }
            } finally {
                e.meta.readLock().unlock();
            }
            for (int i = 0; i < np; i++) {
                if (partial[i] < firstFull && changesMap(action[i])) {
                    paths.add(partial[i]); // the head, before the full blocks
                }
            }
            cursor = firstFull;
            long pos = firstFull;
            long walks = 0;
            do {
                e.meta.readLock().lock();
                try {
                    pos = e.edits.forEachMapped(v, pos, endFull, step, this);
                    walks++;
                    if (pos >= endFull && !unmap) {
                        holeRun(endFull);
                    }
                    if (!unmap && holes > e.available()) {
                        // every hole needs a block: hopeless, say so before walking further
                        throw e.noSpace(v.name, what, holes);
                    }
                } finally {
                    e.meta.readLock().unlock();
                }
            } while (pos < endFull);
            for (int i = 0; i < np; i++) {
                if (partial[i] >= endFull && changesMap(action[i])) {
                    paths.add(partial[i]); // the tail, after the full blocks
                }
            }
            // unmapping publishes in the walk's steps (the same entries, the same cap); marking
            // publishes in steps of `step` logical blocks
            steps = unmap ? walks : Math.max(1, (endFull - firstFull + step - 1) / step);
            // a commit between two steps makes the nodes of the earlier step clean: the next step
            // may shadow again the one node per level that holds blocks on both sides
            long reshadow = (steps - 1) * v.depth;
            long nodes = paths.count();
            fresh += unmap ? 0 : holes + shared;
            long needed = fresh + nodes + reshadow;
            e.meta.writeLock().lock();
            try {
                e.ensureWritable(op + " on volume '" + v.name + "'");
                boolean fits;
                if (unmap) {
                    // copies of partial blocks and the nodes they may need come from ordinary
                    // space; unmapping full blocks may also use the space-freeing reserve
                    long copyNodes = fresh == 0 ? 0 : Math.min(nodes, fresh * v.depth);
                    fits = fresh + copyNodes <= e.available()
                            && needed <= e.available() + (mapped > 0 ? e.reserveBlocks : 0);
                } else {
                    fits = needed <= e.available();
                }
                if (!fits) {
                    throw e.noSpace(v.name, what, needed);
                }
                for (int i = 0; i < np; i++) {
                    if (action[i] == ZERO_COPY) {
                        ptarget[i] = e.space.allocate();
                        e.space.inFlight(1);
                    } else if (action[i] == ZERO_IN_PLACE) {
                        ptarget[i] = pold[i] & MetaBlock.ENTRY_BLOCK;
                    }
                }
                reserved = needed - copies;
                e.space.reserve(reserved);
            } finally {
                e.meta.writeLock().unlock();
            }
        }

        /** The planning walk: one mapped entry of the fully covered blocks. Meta (read) held. */
        @Override
        public void visit(long lb, long entry) {
            mapped++;
            if (unmap) {
                paths.add(lb);
                return;
            }
            holeRun(lb);
            cursor = lb + 1;
            if (e.exclusive(v, lb)) {
                if ((entry & MetaBlock.ENTRY_ZEROED) != 0) {
                    return; // already what we want
                }
            } else {
                shared++;
            }
            paths.add(lb);
        }

        /** The holes from the cursor up to {@code lb}: each needs a block and its path. */
        private void holeRun(long lb) {
            if (lb > cursor) {
                holes += lb - cursor;
                paths.addRun(cursor, lb);
                cursor = lb;
            }
        }

        /** Returns the plan's blocks after the partial blocks could not be zeroed. */
        void abandon() {
            e.meta.writeLock().lock();
            try {
                for (int i = 0; i < np; i++) {
                    if (action[i] == ZERO_COPY) {
                        e.space.unallocate(ptarget[i]);
                        e.space.inFlight(-1);
                    }
                }
                e.space.unreserve(reserved);
            } finally {
                e.meta.writeLock().unlock();
            }
        }

        /**
         * Publishes the plan in steps of at most {@link #step} entries, each under the metadata
         * write lock, releasing it in between so that other volumes' I/O and commits interleave;
         * the volume's exclusive lock stays held throughout, so no read, write, snapshot or
         * clone of this volume sees a half-applied call. Returns whether the low-space threshold
         * was crossed.
         */
        boolean publish() throws IOException {
            LongList lbs = new LongList();
            LongList olds = new LongList();
            MapEdits.EntryVisitor into = (lb, entry) -> {
                lbs.add(lb);
                olds.add(entry);
            };
            long consumed = 0;
            long pos = firstFull;
            for (long s = 0;; s++) {
                boolean last;
                boolean crossed = false;
                e.meta.writeLock().lock();
                try {
                    long before = e.space.reserved();
                    if (s == 0) {
                        for (int i = 0; i < np; i++) {
                            if (partial[i] < firstFull) {
                                publishPartial(v, partial[i], action[i], ptarget[i]);
                            }
                        }
                    }
                    lbs.clear();
                    olds.clear();
                    if (unmap) {
                        pos = e.edits.forEachMapped(v, pos, endFull, step, into);
                        unmapFull(v, lbs);
                    } else {
                        long stop = endFull - pos > step ? pos + step : endFull;
                        e.edits.forEachMapped(v, pos, stop, into);
                        markFull(v, pos, stop, lbs, olds);
                        pos = stop;
                    }
                    last = pos >= endFull;
                    if (last) {
                        for (int i = 0; i < np; i++) {
                            if (partial[i] >= endFull) {
                                publishPartial(v, partial[i], action[i], ptarget[i]);
                            }
                        }
                    }
                    consumed += before - e.space.reserved();
                    if (consumed > reserved || s >= steps) {
                        IOException bug = new IOException(op + " on '" + v.name + "' took " + consumed
                                + " blocks in " + (s + 1) + " steps but planned " + reserved + " in " + steps
                                + " (accounting bug); the pool refuses changes until reopened");
                        e.fail(bug);
                        throw bug;
                    }
                    if (last) {
                        e.space.unreserve(reserved - consumed);
                        crossed = e.lowSpaceCrossed();
                    }
                } finally {
                    e.meta.writeLock().unlock();
                }
                if (last) {
                    return crossed;
                }
                StepHook hook = stepHook;
                if (hook != null) {
                    hook.between(v, pos);
                }
            }
        }
    }

    private static boolean changesMap(int action) {
        return action == ZERO_COPY || action == MARK_NEW;
    }

    /** Decides a partially covered block. Meta held. */
    private int partialAction(Volume v, long lb, long old, boolean unmap) {
        if (old == 0) {
            return unmap ? NOTHING : MARK_NEW;
        }
        if ((old & MetaBlock.ENTRY_ZEROED) != 0) {
            return unmap || e.exclusive(v, lb) ? NOTHING : MARK_NEW;
        }
        return e.inPlace(v, lb) ? ZERO_IN_PLACE : ZERO_COPY;
    }

    /** Writes zeros into the partially covered blocks that hold data (outside the metadata lock). */
    private void zeroPartials(long[] partial, int np, int[] action, long[] pold, long[] ptarget, long offset,
            long end) throws IOException {
        int bs = e.blockSize;
        for (int i = 0; i < np; i++) {
            if (action[i] != ZERO_IN_PLACE && action[i] != ZERO_COPY) {
                continue;
            }
            long lb = partial[i];
            long from = Math.max(offset, lb * bs);
            long to = Math.min(end, (lb + 1) * bs);
            int within = (int) (from - lb * bs);
            if (action[i] == ZERO_COPY) {
                ByteBuffer block = ByteBuffer.allocate(bs);
                e.device.read(block, (pold[i] & MetaBlock.ENTRY_BLOCK) * bs);
                DataPath.ZERO_SOURCE.copyTo(block, within, 0, (int) (to - from));
                e.device.write(block.clear(), ptarget[i] * bs);
            } else {
                e.device.write(DataPath.ZERO_SOURCE.slice(0, (int) (to - from)), ptarget[i] * bs + within);
            }
        }
    }

    /** Publishes one partially covered block's plan. Meta held, reserved. */
    private void publishPartial(Volume v, long lb, int action, long target) {
        if (action == ZERO_COPY) {
            e.space.inFlight(-1);
            long was = e.setEntry(v, lb, target);
            e.freeRef(was & MetaBlock.ENTRY_BLOCK, null); // no reader of v in flight: see unmapFull
        } else if (action == MARK_NEW) {
            long was = e.setEntry(v, lb, e.space.allocateReserved() | MetaBlock.ENTRY_ZEROED);
            if (was != 0) {
                e.freeRef(was & MetaBlock.ENTRY_BLOCK, null);
            } else {
                v.mapped++;
            }
        }
    }

    /**
     * Unmaps the given mapped blocks and frees the map nodes that empties. Meta held, reserved.
     *
     * <p>Dropped blocks are freed without draining {@code v}'s readers ({@code freedBy} null):
     * the caller holds {@code v}'s exclusive lock, so no reader of {@code v} that looked a block
     * up before the drop is still reading it; a commit's free-drain therefore never waits for
     * this (possibly long) call to end.
     */
    private void unmapFull(Volume v, LongList lbs) {
        for (int i = 0; i < lbs.size(); i++) {
            long was = e.setEntry(v, lbs.get(i), 0);
            e.freeRef(was & MetaBlock.ENTRY_BLOCK, null);
            v.mapped--;
        }
        // free the leaves (and their ancestors) that the unmapping emptied: once per leaf
        long lastLeaf = -1;
        for (int i = 0; i < lbs.size(); i++) {
            long leaf = lbs.get(i) / e.fanout;
            if (leaf != lastLeaf) {
                lastLeaf = leaf;
                e.edits.prune(v, lbs.get(i));
            }
        }
    }

    /**
     * Makes every block of {@code [from, to)} a ZEROED entry this volume owns alone: an owned
     * block is marked, a hole or a shared block is replaced by a new block (never written).
     * {@code lbs}/{@code olds} are the mapped entries of the range, read in the same step.
     * Sharing is judged again here, not taken from the plan: it can only have decreased. Meta
     * held, reserved.
     */
    private void markFull(Volume v, long from, long to, LongList lbs, LongList olds) {
        int k = 0;
        for (long lb = from; lb < to; lb++) {
            long old = 0;
            if (k < lbs.size() && lbs.get(k) == lb) {
                old = olds.get(k++);
            }
            if (old != 0 && e.exclusive(v, lb)) {
                if ((old & MetaBlock.ENTRY_ZEROED) == 0) {
                    long was = e.setEntry(v, lb, old | MetaBlock.ENTRY_ZEROED);
                    if (was != old) {
                        throw new IllegalStateException("write-zeroes of '" + v.name + "' logical block " + lb
                                + " planned on entry 0x" + Long.toHexString(old) + ", found 0x"
                                + Long.toHexString(was) + " (locking bug)");
                    }
                }
                continue;
            }
            long was = e.setEntry(v, lb, e.space.allocateReserved() | MetaBlock.ENTRY_ZEROED);
            if (was != 0) {
                e.freeRef(was & MetaBlock.ENTRY_BLOCK, null); // no reader of v in flight: see unmapFull
            } else {
                v.mapped++;
            }
        }
    }
}

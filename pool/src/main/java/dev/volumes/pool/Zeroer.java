package dev.volumes.pool;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Discard and write-zeroes on one volume ({@link VolumeDevice#discard},
 * {@link VolumeDevice#writeZeroes}, and the tail zeroing of a volume grow): map operations over
 * the whole range, planned once.
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
 * as zeros, and a later write there needs no new data block (it lands in place, zero-filling
 * what it does not cover; clearing the ZEROED bit may shadow map nodes).
 *
 * <p>Locking: the volume's {@code rw} lock exclusively for the whole call (no read or write of the
 * volume is in flight, so no stripe locks are needed and no other operation can change this
 * volume's entries), the metadata lock for planning and for publishing, and neither pool-wide
 * lock while zeros are written into partial blocks.
 *
 * <p>Atomic pool-full: planning computes the worst case of new blocks for the whole range at
 * once (new data blocks, copies of partial blocks, every map node on the paths of the entries
 * that change) and reserves it, or throws {@code NoSpaceException} having changed nothing. Other
 * volumes can only make this volume's blocks less shared between planning and publishing (a
 * block owned alone stays owned alone), so publishing never needs more than was reserved.
 * Unmapping may use the space-freeing reserve; allocating zeroes may not.
 */
final class Zeroer {

    /** What happens to a partially covered block. */
    private static final int NOTHING = 0;
    private static final int ZERO_IN_PLACE = 1;
    private static final int ZERO_COPY = 2;
    private static final int MARK_NEW = 3;

    private final Engine e;

    Zeroer(Engine engine) {
        this.e = engine;
    }

    void zero(Volume v, long offset, long length, boolean unmap, String op) throws IOException {
        if (length == 0) {
            return;
        }
        int bs = e.blockSize;
        long end = offset + length;
        long headLb = offset / bs;
        long tailLb = (end - 1) / bs;
        long firstFull = (offset + bs - 1) / bs;
        long endFull = Math.max(firstFull, end / bs);
        // partially covered blocks, ascending: the head and the tail (at most two)
        long[] partial = new long[2];
        int np = 0;
        if (offset % bs != 0 || end < (headLb + 1) * bs) {
            partial[np++] = headLb;
        }
        if (end % bs != 0 && tailLb != headLb) {
            partial[np++] = tailLb;
        }
        int[] action = new int[np];
        long[] pold = new long[np];
        long[] ptarget = new long[np];
        LongList lbs = new LongList();
        LongList olds = new LongList();
        boolean crossed;
        v.rw.writeLock().lock();
        try {
            DataPath.checkRange(v, op, offset, length);
            long reserved;
            int copies = 0;
            e.meta.writeLock().lock();
            try {
                e.ensureWritable(op + " on volume '" + v.name + "'");
                e.edits.mappedEntries(v, firstFull, endFull, lbs, olds);
                long blocks = endFull - firstFull;
                if (!unmap && blocks - lbs.size() > e.available()) {
                    // every hole of the range needs a block: hopeless, say so before walking it
                    throw e.noSpace(v.name, op + " of " + length + " bytes at offset " + offset,
                            blocks - lbs.size());
                }
                Engine.PathCounter paths = e.new PathCounter(v.depth);
                long fresh = 0;
                for (int i = 0; i < np; i++) {
                    pold[i] = e.lookup(v, partial[i]);
                    action[i] = partialAction(v, partial[i], pold[i], unmap);
                    if (action[i] == ZERO_COPY || action[i] == MARK_NEW) {
                        fresh++;
                        copies += action[i] == ZERO_COPY ? 1 : 0;
                    }
                }
                for (int i = 0; i < np; i++) {
                    if (partial[i] < firstFull && changesMap(action[i])) {
                        paths.add(partial[i]); // the head, before the full blocks
                    }
                }
                if (unmap) {
                    for (int k = 0; k < lbs.size(); k++) {
                        paths.add(lbs.get(k));
                    }
                } else {
                    int k = 0;
                    for (long lb = firstFull; lb < endFull; lb++) {
                        if (k < lbs.size() && lbs.get(k) == lb) {
                            long old = olds.get(k++);
                            if (e.exclusive(v, lb)) {
                                if ((old & MetaBlock.ENTRY_ZEROED) != 0) {
                                    continue; // already what we want
                                }
                            } else {
                                fresh++;
                            }
                        } else {
                            fresh++; // a hole
                        }
                        paths.add(lb);
                    }
                }
                for (int i = 0; i < np; i++) {
                    if (partial[i] >= endFull && changesMap(action[i])) {
                        paths.add(partial[i]); // the tail, after the full blocks
                    }
                }
                long nodes = paths.count();
                long needed = fresh + nodes;
                boolean fits;
                if (unmap) {
                    // copies of partial blocks and the nodes they may need come from ordinary
                    // space; unmapping full blocks may also use the space-freeing reserve
                    long copyNodes = fresh == 0 ? 0 : Math.min(nodes, fresh * v.depth);
                    fits = fresh + copyNodes <= e.available()
                            && needed <= e.available() + (lbs.size() > 0 ? e.reserveBlocks : 0);
                } else {
                    fits = needed <= e.available();
                }
                if (!fits) {
                    throw e.noSpace(v.name, op + " of " + length + " bytes at offset " + offset, needed);
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
            try {
                zeroPartials(partial, np, action, pold, ptarget, offset, end);
            } catch (IOException | RuntimeException | Error failure) {
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
                throw failure;
            }
            e.meta.writeLock().lock();
            try {
                long before = e.space.reserved();
                for (int i = 0; i < np; i++) {
                    if (partial[i] < firstFull) {
                        publishPartial(v, partial[i], action[i], ptarget[i]);
                    }
                }
                if (unmap) {
                    unmapFull(v, lbs);
                } else {
                    markFull(v, firstFull, endFull, lbs, olds);
                }
                for (int i = 0; i < np; i++) {
                    if (partial[i] >= endFull) {
                        publishPartial(v, partial[i], action[i], ptarget[i]);
                    }
                }
                long consumed = before - e.space.reserved();
                if (consumed > reserved) {
                    throw new IllegalStateException(op + " on '" + v.name + "' took " + consumed
                            + " blocks but reserved " + reserved + " (accounting bug)");
                }
                e.space.unreserve(reserved - consumed);
                crossed = e.lowSpaceCrossed();
            } finally {
                e.meta.writeLock().unlock();
            }
        } finally {
            v.rw.writeLock().unlock();
        }
        if (crossed) {
            e.fireLowSpace();
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
            e.freeRef(was & MetaBlock.ENTRY_BLOCK, v);
        } else if (action == MARK_NEW) {
            long was = e.setEntry(v, lb, e.space.allocateReserved() | MetaBlock.ENTRY_ZEROED);
            if (was != 0) {
                e.freeRef(was & MetaBlock.ENTRY_BLOCK, v);
            } else {
                v.mapped++;
            }
        }
    }

    /** Unmaps the mapped fully covered blocks and frees the map nodes that empties. Meta held, reserved. */
    private void unmapFull(Volume v, LongList lbs) {
        for (int i = 0; i < lbs.size(); i++) {
            long was = e.setEntry(v, lbs.get(i), 0);
            e.freeRef(was & MetaBlock.ENTRY_BLOCK, v);
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
     * Makes every fully covered block a ZEROED entry this volume owns alone: an owned block is
     * marked, a hole or a shared block is replaced by a new block (never written). Sharing is
     * judged again here, not taken from the plan: it can only have decreased. Meta held, reserved.
     */
    private void markFull(Volume v, long firstFull, long endFull, LongList lbs, LongList olds) {
        int k = 0;
        for (long lb = firstFull; lb < endFull; lb++) {
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
                e.freeRef(was & MetaBlock.ENTRY_BLOCK, v);
            } else {
                v.mapped++;
            }
        }
    }
}

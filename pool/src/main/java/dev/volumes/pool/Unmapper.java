package dev.volumes.pool;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Discard and write-zeroes with unmap on one volume ({@link VolumeDevice#discard},
 * {@code writeZeroes(..., true)}, and the tail zeroing of a volume grow).
 *
 * <p>Locking: the volume's {@code rw} lock exclusively for the whole call (no read or write of the
 * volume is in flight, so no stripe locks are needed), the metadata lock for planning and for
 * publishing, and neither pool-wide lock while zeros are written to the device. Planning computes
 * the worst case of new blocks for everything (copy-on-write of the partial head and tail blocks,
 * every map node on the paths of the entries that change) and reserves it, or throws
 * {@code NoSpaceException} with nothing changed; unmapping may use the space-freeing reserve.
 */
final class Unmapper {

    private final Engine e;

    Unmapper(Engine engine) {
        this.e = engine;
    }

    /**
     * Discard and write-zeroes with unmap: every fully covered block is unmapped (its reference
     * dropped), the partially covered head and tail blocks get zeros written (in place, or
     * copy-on-write). Planned whole under the volume's exclusive lock: the space check (zero
     * writes from ordinary space; unmapping may also use the space-freeing reserve) either
     * passes for everything or throws {@code NoSpaceException} with nothing changed.
     */
    void unmap(Volume v, long offset, long length, String op) throws IOException {
        if (length == 0) {
            return;
        }
        int bs = e.blockSize;
        long end = offset + length;
        long firstFull = (offset + bs - 1) / bs;
        long endFull = end / bs;
        boolean crossed = false;
        v.rw.writeLock().lock();
        try {
            DataPath.checkRange(v, op, offset, length);
            long headLb = offset / bs;
            long tailLb = (end - 1) / bs;
            long[] partial = new long[2];
            int np = 0;
            if (offset % bs != 0 || (headLb == tailLb && end % bs != 0)) {
                partial[np++] = headLb;
            }
            if (end % bs != 0 && tailLb != headLb) {
                partial[np++] = tailLb;
            }
            LongList lbs = new LongList();
            LongList old = new LongList();
            long[] ptarget = new long[np];
            long[] pold = new long[np];
            boolean[] pfresh = new boolean[np];
            long reserved;
            e.meta.writeLock().lock();
            try {
                e.ensureWritable(op + " on volume '" + v.name + "'");
                if (firstFull < endFull) {
                    e.edits.mappedEntries(v, firstFull, endFull, lbs, old);
                }
                int fresh = 0;
                long[] changing = new long[np + lbs.size()];
                int nc = 0;
                for (int i = 0; i < np; i++) {
                    pold[i] = e.lookup(v, partial[i]);
                    if (pold[i] == 0 || (pold[i] & MetaBlock.ENTRY_ZEROED) != 0) {
                        pold[i] = -1; // reads as zeros already
                    } else if (e.inPlace(v, partial[i])) {
                        ptarget[i] = pold[i] & MetaBlock.ENTRY_BLOCK;
                    } else {
                        pfresh[i] = true;
                        fresh++;
                    }
                }
                // logical blocks whose entries change, ascending and distinct
                for (int i = 0; i < np; i++) {
                    if (pfresh[i]) {
                        changing[nc++] = partial[i];
                    }
                }
                for (int i = 0; i < lbs.size(); i++) {
                    changing[nc++] = lbs.get(i);
                }
                java.util.Arrays.sort(changing, 0, nc);
                long nodes = nc == 0 ? 0 : e.nodesNeeded(v, changing, nc);
                long freshNodes = fresh == 0 ? 0 : Math.min(nodes, (long) fresh * v.depth);
                if (fresh + freshNodes > e.available()
                        || fresh + nodes > e.available() + (lbs.size() > 0 ? e.reserveBlocks : 0)) {
                    throw e.noSpace(v.name, op + " of " + length + " bytes at offset " + offset, fresh + nodes);
                }
                for (int i = 0; i < np; i++) {
                    if (pfresh[i]) {
                        ptarget[i] = e.space.allocate();
                        e.space.inFlight(1);
                    }
                }
                reserved = nodes;
                e.space.reserve(reserved);
            } finally {
                e.meta.writeLock().unlock();
            }
            // zero the partial blocks (outside the metadata lock)
            try {
                for (int i = 0; i < np; i++) {
                    if (pold[i] == -1) {
                        continue;
                    }
                    long lb = partial[i];
                    long from = Math.max(offset, lb * bs);
                    long to = Math.min(end, (lb + 1) * bs);
                    int within = (int) (from - lb * bs);
                    if (pfresh[i]) {
                        ByteBuffer block = ByteBuffer.allocate(bs);
                        e.device.read(block, (pold[i] & MetaBlock.ENTRY_BLOCK) * bs);
                        DataPath.ZERO_SOURCE.copyTo(block, within, 0, (int) (to - from));
                        e.device.write(block.clear(), ptarget[i] * bs);
                    } else {
                        e.device.write(DataPath.ZERO_SOURCE.slice(0, (int) (to - from)), ptarget[i] * bs + within);
                    }
                }
            } catch (IOException | RuntimeException | Error failure) {
                e.meta.writeLock().lock();
                try {
                    for (int i = 0; i < np; i++) {
                        if (pfresh[i]) {
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
                    if (pfresh[i]) {
                        e.space.inFlight(-1);
                        long was = e.setEntry(v, partial[i], ptarget[i]);
                        e.freeRef(was & MetaBlock.ENTRY_BLOCK, v);
                    }
                }
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
                long consumed = before - e.space.reserved();
                if (consumed > reserved) {
                    throw new IllegalStateException(op + " on '" + v.name + "' shadowed " + consumed
                            + " nodes but reserved " + reserved + " (accounting bug)");
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

}

package dev.volumes.pool;

import dev.volumes.device.OutOfRangeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Reads and writes of volume bytes.
 *
 * <p>Write protocol (one call): take the volume's shared lock and the stripes of the touched
 * blocks; under the metadata lock, plan every block (in place; in place into the block of a
 * ZEROED entry, zero-filling what the write does not cover; or a new block seeded with zeros or
 * with a copy of the old block), compute the worst case of new blocks (data blocks plus every
 * map node on the paths of the entries that change) and either reserve it or throw
 * {@code NoSpaceException} with nothing changed; write the data outside every pool-wide lock;
 * then, under the metadata lock, publish the new blocks (and clear the ZEROED bits) in the map,
 * shadowing nodes from the reservation, and return the unused reservation. A failed data write
 * returns the new blocks unpublished, so the map never points at bytes that did not land.
 *
 * <p>Reads look up a run of entries under the metadata read lock, then read the device outside
 * it; contiguous physical runs become one device read. Holes and ZEROED entries read as zeros
 * without touching the device.
 */
final class DataPath {

    private final Engine e;
    private final Zeroer zeroer;

    DataPath(Engine engine) {
        this.e = engine;
        this.zeroer = new Zeroer(engine);
    }

    /** The zeroer (tests set its step size and hook). */
    Zeroer zeroer() {
        return zeroer;
    }

    /** Discard, or write-zeroes with unmap: see {@link Zeroer}. */
    void unmap(Volume v, long offset, long length, String op) throws IOException {
        zeroer.zero(v, offset, length, true, op);
    }

    /**
     * Write-zeroes: a map operation over the whole range, planned and reserved once, published
     * in bounded steps (see {@link Zeroer});
     * without {@code unmap} every touched block stays or becomes allocated and reads as zeros.
     */
    void writeZeroes(Volume v, long offset, long length, boolean unmap) throws IOException {
        zeroer.zero(v, offset, length, unmap, "write-zeroes");
    }

    void read(Volume v, ByteBuffer dst, long offset) throws IOException {
        int bs = e.blockSize;
        int length = dst.remaining();
        long firstLb = offset / bs;
        int count = (int) ((offset + length - 1) / bs - firstLb + 1);
        if (count == 1) {
            readWithinBlock(v, dst, offset, firstLb);
            return;
        }
        long[] entries = new long[count];
        v.rw.readLock().lock();
        try {
            checkRange(v, "read", offset, length);
            e.meta.readLock().lock();
            try {
                for (int i = 0; i < count; i++) {
                    entries[i] = e.lookup(v, firstLb + i);
                }
            } finally {
                e.meta.readLock().unlock();
            }
            int base = dst.position();
            int done = 0;
            int i = 0;
            while (i < count) {
                long pos = offset + done;
                int within = (int) (pos % bs);
                int n = Math.min(bs - within, length - done);
                long entry = entries[i];
                if (entry == 0 || (entry & MetaBlock.ENTRY_ZEROED) != 0) {
                    dst.put(base + done, ZEROS, 0, Math.min(n, ZEROS.length));
                    for (int k = ZEROS.length; k < n; k += ZEROS.length) {
                        dst.put(base + done + k, ZEROS, 0, Math.min(n - k, ZEROS.length));
                    }
                    done += n;
                    i++;
                    continue;
                }
                long phys = (entry & MetaBlock.ENTRY_BLOCK) * bs + within;
                int run = n;
                int j = i + 1;
                while (j < count && (entries[j] & ~MetaBlock.ENTRY_BLOCK) == 0 && entries[j] != 0
                        && entries[j] == entries[j - 1] + 1) {
                    run += Math.min(bs, length - done - run);
                    j++;
                }
                e.device.read(dst.slice(base + done, run), phys);
                done += run;
                i = j;
            }
            dst.position(dst.limit());
        } finally {
            v.rw.readLock().unlock();
        }
    }

    /**
     * The common small read (within one block): one lookup, no entry array, and the device
     * reads straight into {@code dst} (no slice). Same locking as the general path.
     */
    private void readWithinBlock(Volume v, ByteBuffer dst, long offset, long lb) throws IOException {
        int length = dst.remaining();
        v.rw.readLock().lock();
        try {
            checkRange(v, "read", offset, length);
            long entry;
            e.meta.readLock().lock();
            try {
                entry = e.lookup(v, lb);
            } finally {
                e.meta.readLock().unlock();
            }
            if (entry == 0 || (entry & MetaBlock.ENTRY_ZEROED) != 0) {
                int base = dst.position();
                for (int k = 0; k < length; k += ZEROS.length) {
                    dst.put(base + k, ZEROS, 0, Math.min(length - k, ZEROS.length));
                }
                dst.position(dst.limit());
                return;
            }
            int base = dst.position();
            e.device.read(dst, (entry & MetaBlock.ENTRY_BLOCK) * (long) e.blockSize + offset % e.blockSize);
            dst.position(base + length);
        } finally {
            v.rw.readLock().unlock();
        }
    }

    private static final byte[] ZEROS = new byte[64 * 1024];
    private static final int ZERO_RUN = 1 << 20;
    private static final ByteBuffer ZERO_BUFFER = ByteBuffer.wrap(new byte[ZERO_RUN]);

    /** Rechecks a range under the volume lock (a resize may have run since the device checked it). */
    static void checkRange(Volume v, String op, long offset, long length) throws OutOfRangeException {
        if (offset + length > v.size) {
            throw new OutOfRangeException(v.name, op, offset, length, v.size);
        }
    }

    /** Where a write's bytes come from: a caller's buffer or zeros. */
    interface Source {
        /** Bytes {@code [from, from + n)} of the write as a buffer (n at most {@link #maxRun()}). */
        ByteBuffer slice(int from, int n);

        /** Copies bytes {@code [from, from + n)} of the write into {@code block} at {@code at}. */
        void copyTo(ByteBuffer block, int at, int from, int n);

        int maxRun();
    }

    private static Source of(ByteBuffer src) {
        int base = src.position();
        return new Source() {
            public ByteBuffer slice(int from, int n) {
                return src.slice(base + from, n);
            }

            public void copyTo(ByteBuffer block, int at, int from, int n) {
                block.put(at, src, base + from, n);
            }

            public int maxRun() {
                return Integer.MAX_VALUE;
            }
        };
    }

    static final Source ZERO_SOURCE = new Source() {
        public ByteBuffer slice(int from, int n) {
            return ZERO_BUFFER.duplicate().clear().limit(n);
        }

        public void copyTo(ByteBuffer block, int at, int from, int n) {
            block.put(at, ZEROS, 0, 0);
            for (int k = 0; k < n; k += ZEROS.length) {
                block.put(at + k, ZEROS, 0, Math.min(ZEROS.length, n - k));
            }
        }

        public int maxRun() {
            return ZERO_RUN;
        }
    };

    /**
     * The per-block plan of one write: {@code fresh} blocks get a new block, {@code unzero} blocks
     * are ZEROED entries written in place whose bit is cleared at publish, the rest are
     * overwritten in place.
     */
    private record Plan(long[] lbs, long[] target, long[] old, boolean[] fresh, boolean[] unzero, int freshCount,
            long nodes) {}

    void write(Volume v, ByteBuffer src, long offset) throws IOException {
        int length = src.remaining();
        write(v, of(src), offset, length, "write");
        src.position(src.limit());
    }

    private void write(Volume v, Source src, long offset, int length, String op) throws IOException {
        int bs = e.blockSize;
        long firstLb = offset / bs;
        int count = (int) ((offset + length - 1) / bs - firstLb + 1);
        v.rw.readLock().lock();
        ReentrantLock[] held = lockStripes(v, firstLb, count);
        boolean crossed;
        try {
            checkRange(v, op, offset, length);
            Plan plan = plan(v, firstLb, count, offset, length);
            try {
                writeData(plan, src, offset, length);
            } catch (IOException | RuntimeException | Error failure) {
                abandon(plan);
                throw failure;
            }
            crossed = publish(v, plan);
        } finally {
            for (int i = held.length - 1; i >= 0; i--) {
                held[i].unlock();
            }
            v.rw.readLock().unlock();
        }
        if (crossed) {
            e.fireLowSpace();
        }
    }

    private static ReentrantLock[] lockStripes(Volume v, long firstLb, int count) {
        boolean[] want = new boolean[Volume.STRIPES];
        int n = 0;
        for (int i = 0; i < count && n < Volume.STRIPES; i++) {
            int s = (int) Math.floorMod(firstLb + i, (long) Volume.STRIPES);
            if (!want[s]) {
                want[s] = true;
                n++;
            }
        }
        ReentrantLock[] held = new ReentrantLock[n];
        int k = 0;
        for (int s = 0; s < Volume.STRIPES; s++) {
            if (want[s]) {
                v.stripes[s].lock();
                held[k++] = v.stripes[s];
            }
        }
        return held;
    }

    private Plan plan(Volume v, long firstLb, int count, long offset, int length) throws IOException {
        long[] lbs = new long[count];
        long[] target = new long[count];
        long[] old = new long[count];
        boolean[] fresh = new boolean[count];
        boolean[] unzero = null;
        Engine.PathCounter paths = e.new PathCounter(v.depth);
        e.meta.writeLock().lock();
        try {
            e.ensureWritable("write to volume '" + v.name + "'");
            int freshCount = 0;
            int changing = 0;
            for (int i = 0; i < count; i++) {
                long lb = firstLb + i;
                lbs[i] = lb;
                old[i] = e.lookup(v, lb);
                int placement = e.placement(v, lb);
                if (placement == Engine.FRESH) {
                    fresh[i] = true;
                    freshCount++;
                } else {
                    target[i] = old[i] & MetaBlock.ENTRY_BLOCK;
                    if (placement == Engine.IN_PLACE) {
                        continue;
                    }
                    if (unzero == null) {
                        unzero = new boolean[count];
                    }
                    unzero[i] = true; // the map changes (ZEROED bit cleared), the block does not
                }
                paths.add(lb);
                changing++;
            }
            long nodes = paths.count();
            long needed = freshCount + (changing == 0 ? 0 : nodes);
            if (needed > e.available()) {
                throw e.noSpace(v.name, "write of " + length + " bytes at offset " + offset, needed);
            }
            long[] blocks = e.space.allocateRun(freshCount);
            e.space.inFlight(freshCount);
            for (int i = 0, k = 0; i < count; i++) {
                if (fresh[i]) {
                    target[i] = blocks[k++];
                }
            }
            long reserved = changing == 0 ? 0 : nodes;
            e.space.reserve(reserved);
            return new Plan(lbs, target, old, fresh, unzero == null ? new boolean[count] : unzero, freshCount,
                    reserved);
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    private void writeData(Plan p, Source src, long offset, int length) throws IOException {
        int bs = e.blockSize;
        int done = 0;
        int i = 0;
        int count = p.lbs.length;
        while (i < count) {
            long pos = offset + done;
            int within = (int) (pos % bs);
            int n = Math.min(bs - within, length - done);
            if ((p.fresh[i] || p.unzero[i]) && n < bs) {
                // a partial write into a new or ZEROED block: the rest of the block is the old
                // content (copy-on-write) or zeros (a hole, or a ZEROED entry whose block holds
                // anything: it was never written, or written before it was zeroed)
                ByteBuffer block = ByteBuffer.allocate(bs);
                long oldEntry = p.old[i];
                if (oldEntry != 0 && (oldEntry & MetaBlock.ENTRY_ZEROED) == 0) {
                    e.device.read(block, (oldEntry & MetaBlock.ENTRY_BLOCK) * bs);
                }
                src.copyTo(block, within, done, n);
                e.device.write(block.clear(), p.target[i] * bs);
                done += n;
                i++;
                continue;
            }
            // a run of blocks whose bytes come straight from src and land contiguously
            int run = n;
            int j = i + 1;
            while (j < count && p.target[j] == p.target[j - 1] + 1 && run < src.maxRun() - bs) {
                int nj = Math.min(bs, length - done - run);
                if ((p.fresh[j] || p.unzero[j]) && nj < bs) {
                    break;
                }
                run += nj;
                j++;
            }
            e.device.write(src.slice(done, run), p.target[i] * bs + within);
            done += run;
            i = j;
        }
    }

    private void abandon(Plan p) {
        e.meta.writeLock().lock();
        try {
            for (int i = 0; i < p.lbs.length; i++) {
                if (p.fresh[i]) {
                    e.space.unallocate(p.target[i]);
                    e.space.inFlight(-1);
                }
            }
            e.space.unreserve(p.nodes);
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    /** Publishes the plan's new blocks; returns whether the low-space threshold was crossed. */
    private boolean publish(Volume v, Plan p) {
        e.meta.writeLock().lock();
        try {
            long before = e.space.reserved();
            e.space.inFlight(-p.freshCount);
            for (int i = 0; i < p.lbs.length; i++) {
                if (p.fresh[i]) {
                    long old = e.setEntry(v, p.lbs[i], p.target[i]);
                    if (old != 0) {
                        e.freeRef(old & MetaBlock.ENTRY_BLOCK, v);
                    } else {
                        v.mapped++;
                    }
                } else if (p.unzero[i]) {
                    long old = e.setEntry(v, p.lbs[i], p.target[i]); // the same block, now read
                    if (old != (p.target[i] | MetaBlock.ENTRY_ZEROED)) {
                        throw new IllegalStateException("write to '" + v.name + "' logical block " + p.lbs[i]
                                + " planned on ZEROED entry 0x" + Long.toHexString(p.target[i] | MetaBlock.ENTRY_ZEROED)
                                + ", found 0x" + Long.toHexString(old) + " (locking bug)");
                    }
                }
            }
            long consumed = before - e.space.reserved();
            if (consumed > p.nodes) {
                throw new IllegalStateException("write to '" + v.name + "' shadowed " + consumed
                        + " nodes but reserved " + p.nodes + " (accounting bug)");
            }
            e.space.unreserve(p.nodes - consumed);
            return p.freshCount > 0 && e.lowSpaceCrossed();
        } finally {
            e.meta.writeLock().unlock();
        }
    }
}

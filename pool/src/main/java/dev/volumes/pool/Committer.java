package dev.volumes.pool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Makes the engine's in-memory tree durable: one commit = one new superblock generation.
 *
 * <p>Protocol (docs/pool-format.md "Commit protocol"):
 * <ol>
 *   <li>Under the metadata lock (in memory only): encode every dirty map node into a buffer and
 *       mark it clean (later writers shadow it), allocate fresh blocks for a new catalog if it
 *       changed (the old catalog's blocks are freed, deferred), build the superblock, open the
 *       next transaction.</li>
 *   <li>Write the node and catalog buffers to their fresh blocks (never over committed ones).</li>
 *   <li>Device sync: all data written before this commit began and all new metadata are durable.</li>
 *   <li>Write the superblock into ring slot {@code generation % 4}.</li>
 *   <li>Device sync: the generation is committed.</li>
 *   <li>Release the blocks freed two transactions ago (first draining readers of every volume
 *       that dropped a reference in those transactions) and drop their pins.</li>
 * </ol>
 * The brief's extra sync between data and metadata is not needed: new metadata lives only in
 * blocks no durable superblock reaches, so it may land in any order with the data as long as
 * both precede the superblock, which step 3 guarantees.
 *
 * <p>Any failure is fail-stop: the engine refuses further changes, citing the cause, until the
 * pool is reopened.
 */
final class Committer {

    private final Engine e;

    Committer(Engine engine) {
        this.e = engine;
    }

    private record Frozen(long generation, List<Long> blocks, List<ByteBuffer> buffers, Superblock superblock) {}

    /** Commits everything written before the call. */
    void commit() throws IOException {
        if (e.readOnly) {
            e.ensureOpen("sync"); // nothing can have changed: there is nothing to make durable
            return;
        }
        e.commitLock.lock();
        try {
            e.ensureWritable("sync");
            Frozen f;
            try {
                f = freeze();
            } catch (RuntimeException bug) {
                IOException io = new IOException("commit on '" + e.device.name() + "' failed while freezing", bug);
                e.fail(io);
                throw io;
            }
            try {
                if (f == null) {
                    e.device.sync();
                    return;
                }
                for (int i = 0; i < f.blocks.size(); i++) {
                    e.device.write(f.buffers.get(i), f.blocks.get(i) * e.blockSize);
                }
                e.device.sync();
                e.device.write(f.superblock.encode(), (long) Superblock.slotOf(f.generation) * Superblock.SLOT_SIZE);
                e.device.sync();
            } catch (IOException | RuntimeException failure) {
                IOException io = failure instanceof IOException x ? x
                        : new IOException("commit on '" + e.device.name() + "' failed", failure);
                e.fail(io);
                throw io;
            }
            finish(f.generation);
        } finally {
            e.commitLock.unlock();
        }
    }

    private Frozen freeze() {
        e.meta.writeLock().lock();
        try {
            boolean metadata = !e.dirty.isEmpty() || e.catalogDirty || e.catalog.isEmpty();
            if (!metadata && !e.space.hasPending()) {
                return null;
            }
            long gen = e.txn;
            List<Long> blocks = new ArrayList<>();
            List<ByteBuffer> buffers = new ArrayList<>();
            for (Node n : e.dirty) {
                if (!n.dirty || e.nodes.get(n.block) != n) {
                    continue;
                }
                ByteBuffer b = MetaBlock.allocate(e.blockSize);
                MetaBlock.putHeader(b, MetaBlock.TYPE_MAP, n.level, n.block, n.owner, gen, e.tag, e.fanout, 0);
                for (int i = 0; i < e.fanout; i++) {
                    b.putLong(MetaBlock.HEADER + 8 * i, n.entries[i]);
                }
                MetaBlock.seal(b);
                blocks.add(n.block);
                buffers.add(b);
                n.dirty = false;
            }
            e.dirty.clear();
            if (e.catalogDirty || e.catalog.isEmpty()) {
                writeCatalog(gen, blocks, buffers);
            }
            long used = e.space.total() - e.space.free();
            // after a fallback at open the tree this commit is made from is not gen - 1
            long previous = e.committedGen != gen - 1 ? e.committedGen : 0;
            Superblock sb = new Superblock(e.uuid, gen, e.blockSize, e.space.total(), e.reserveBlocks,
                    e.catalog.get(0), e.catalog.size(), e.volumes.size(), e.nextVolumeId, used, e.createdMillis,
                    System.currentTimeMillis(), e.label, previous);
            e.releasing = e.space.pendingUpTo(gen - 1);
            e.txn = gen + 1;
            e.commitInFlight = true;
            return new Frozen(gen, blocks, buffers, sb);
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    private void writeCatalog(long gen, List<Long> blocks, List<ByteBuffer> buffers) {
        List<CatalogEntry> entries = new ArrayList<>();
        for (Volume v : e.volumes.values()) {
            entries.add(v.entry());
        }
        int per = e.catalogPerBlock();
        int count = (int) e.catalogBlocksFor(entries.size());
        List<Long> fresh = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            fresh.add(e.space.allocate());
        }
        for (int i = 0; i < count; i++) {
            ByteBuffer b = MetaBlock.allocate(e.blockSize);
            int from = i * per;
            int to = Math.min(entries.size(), from + per);
            long next = i + 1 < count ? fresh.get(i + 1) : 0;
            MetaBlock.putHeader(b, MetaBlock.TYPE_CATALOG, 0, fresh.get(i), 0, gen, e.tag, to - from, next);
            for (int k = from; k < to; k++) {
                entries.get(k).encode(b, MetaBlock.HEADER + (k - from) * CatalogEntry.SIZE);
            }
            MetaBlock.seal(b);
            blocks.add(fresh.get(i));
            buffers.add(b);
        }
        for (long old : e.catalog) {
            e.space.decRef(old);
            e.space.deferFree(old, gen);
        }
        e.catalog = fresh;
        e.catalogDirty = false;
    }

    private void finish(long gen) {
        List<Set<Volume>> toDrain = new ArrayList<>();
        e.meta.writeLock().lock();
        try {
            e.committedGen = gen;
            e.commitInFlight = false;
            e.releasing = 0;
            e.drains.keySet().removeIf(t -> {
                if (t <= gen - 1) {
                    toDrain.add(e.drains.get(t));
                    return true;
                }
                return false;
            });
        } finally {
            e.meta.writeLock().unlock();
        }
        // Readers that looked up a data block before it was freed may still be reading it.
        for (Set<Volume> set : toDrain) {
            for (Volume v : set) {
                v.rw.writeLock().lock();
                v.rw.writeLock().unlock();
            }
        }
        if (e.discardFreed) {
            List<Long> due;
            e.meta.readLock().lock();
            try {
                due = e.space.due(gen - 1);
            } finally {
                e.meta.readLock().unlock();
            }
            discard(due);
        }
        e.meta.writeLock().lock();
        try {
            e.space.release(gen - 1);
            e.lowSpaceCrossed(); // re-arms the warning once space came back
        } finally {
            e.meta.writeLock().unlock();
        }
    }

    /**
     * Discards freed blocks on the backing (runs of adjacent blocks as one call) before they
     * become allocatable: nothing references them in the two newest commits. Advisory: a failure
     * (an unsupported device, a lost device) leaves the bytes in place and is otherwise ignored.
     */
    private void discard(List<Long> blocks) {
        if (blocks.isEmpty()) {
            return;
        }
        long[] sorted = blocks.stream().mapToLong(Long::longValue).sorted().toArray();
        try {
            int i = 0;
            while (i < sorted.length) {
                int j = i + 1;
                while (j < sorted.length && sorted[j] == sorted[j - 1] + 1) {
                    j++;
                }
                e.device.discard(sorted[i] * e.blockSize, (long) (j - i) * e.blockSize);
                i = j;
            }
        } catch (IOException | RuntimeException advisory) {
            // space stays allocated on the backing; the pool's own accounting is unaffected
        }
    }
}

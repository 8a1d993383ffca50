package dev.volumes.pool;

import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;

/**
 * Delete, resize, pool growth and usage accounting.
 *
 * <p>Locking: delete and resize take the volume's {@code rw} lock exclusively (no I/O of that
 * volume is in flight) and then the metadata lock, the engine's usual order. A delete drops one
 * reference on the root; counts cascade down only through nodes that reach zero (shared subtrees
 * stop the walk), so deleting a snapshot costs one decrement. Every dropped block follows the
 * deferred-free and pin rules of {@link Engine}, so the two newest committed trees stay intact.
 */
final class Lifecycle {

    private final Pool pool;
    private final Engine e;
    private final DataPath data;

    Lifecycle(Pool pool, Engine engine, DataPath data) {
        this.pool = pool;
        this.e = engine;
        this.data = data;
    }

    void delete(Volume v) throws IOException {
        v.rw.writeLock().lock();
        try {
            e.meta.writeLock().lock();
            try {
                e.ensureWritable("delete '" + v.name + "'");
                if (e.volumes.get(v.name) != v) {
                    throw new VolumeNotFoundException(e.device.name(), v.name);
                }
                int open = v.handles.get();
                if (open > 0) {
                    throw new DeviceInUseException(v.name, "delete of '" + v.name + "' refused: " + open
                            + " device(s) opened on it are still open; close them first");
                }
                e.volumes.remove(v.name);
                e.catalogDirty = true;
                if (v.root != 0) {
                    e.edits.dropRef(v.root, v.depth - 1, v);
                    v.root = 0;
                }
                v.mapped = 0;
            } finally {
                e.meta.writeLock().unlock();
            }
        } finally {
            v.rw.writeLock().unlock();
        }
    }

    void resize(Volume v, long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + v.name + "' to negative size " + newSize);
        }
        if (v.kind.readOnly() || e.readOnly) {
            throw new ReadOnlyDeviceException(v.name, "resize (" + (e.readOnly ? "the pool is read-only"
                    : "snapshots are immutable") + ")");
        }
        int newDepth = e.depthFor(newSize);
        int bs = e.blockSize;
        v.rw.writeLock().lock();
        try {
            checkLive(v, "resize");
            long oldSize = v.size;
            if (newSize == oldSize) {
                return;
            }
            if (newSize < oldSize) {
                long keep = (newSize + bs - 1) / bs;
                e.meta.writeLock().lock();
                try {
                    checkLive(v, "resize");
                    long need = v.root == 0 ? 0 : v.depth;
                    if (need > e.available() + e.reserveBlocks) {
                        throw e.noSpace(v.name, "shrink to " + newSize + " bytes", need);
                    }
                    e.space.reserve(need);
                    long before = e.space.reserved();
                    e.edits.truncate(v, keep);
                    e.space.unreserve(need - (before - e.space.reserved()));
                    v.size = newSize;
                    e.catalogDirty = true;
                } finally {
                    e.meta.writeLock().unlock();
                }
            } else {
                e.meta.writeLock().lock();
                try {
                    checkLive(v, "resize");
                    long need = v.root == 0 ? 0 : Math.max(0, newDepth - v.depth);
                    if (need > e.available()) {
                        throw e.noSpace(v.name, "grow to " + newSize + " bytes (" + need + " new map levels)", need);
                    }
                    e.space.reserve(need);
                    long before = e.space.reserved();
                    e.edits.deepen(v, newDepth);
                    e.space.unreserve(need - (before - e.space.reserved()));
                    v.size = newSize;
                    e.catalogDirty = true;
                } finally {
                    e.meta.writeLock().unlock();
                }
                // The old last block may hold bytes past the old size (an in-place write past a
                // size that a crash then took back, a shrink): zero them before anyone can read them.
                long tailEnd = Math.min(newSize, (oldSize + bs - 1) / bs * bs);
                if (tailEnd > oldSize) {
                    try {
                        data.unmap(v, oldSize, tailEnd - oldSize, "resize");
                    } catch (IOException | RuntimeException failure) {
                        e.meta.writeLock().lock();
                        try {
                            v.size = oldSize; // nothing else changed that a reader could see
                        } finally {
                            e.meta.writeLock().unlock();
                        }
                        throw failure;
                    }
                }
            }
        } finally {
            v.rw.writeLock().unlock();
        }
    }

    private void checkLive(Volume v, String what) throws IOException {
        e.meta.readLock().lock();
        try {
            e.ensureWritable(what + " '" + v.name + "'");
            if (e.volumes.get(v.name) != v) {
                throw new VolumeNotFoundException(e.device.name(), v.name);
            }
        } finally {
            e.meta.readLock().unlock();
        }
    }

    long grow() throws IOException {
        e.meta.writeLock().lock();
        try {
            e.ensureWritable("grow pool");
            long newTotal = Math.min(e.device.size() / e.blockSize, Integer.MAX_VALUE);
            if (newTotal > e.space.total()) {
                e.space.grow(newTotal);
                e.catalogDirty = true; // forces a commit that records the new size
            }
        } finally {
            e.meta.writeLock().unlock();
        }
        pool.sync();
        e.meta.readLock().lock();
        try {
            return e.space.total() * e.blockSize;
        } finally {
            e.meta.readLock().unlock();
        }
    }

    long grow(long newBackingSize) throws IOException {
        long current;
        e.meta.readLock().lock();
        try {
            e.ensureWritable("grow pool");
            current = e.space.total() * e.blockSize;
        } finally {
            e.meta.readLock().unlock();
        }
        if (newBackingSize < current) {
            throw new IllegalArgumentException("grow of pool '" + e.device.name() + "' to " + newBackingSize
                    + " bytes: the pool already uses " + current + " bytes (shrinking is not supported)");
        }
        if (newBackingSize > e.device.size()) {
            e.device.resize(newBackingSize);
        }
        return grow();
    }

    VolumeUsage usage(Volume v) {
        e.meta.readLock().lock();
        try {
            long[] counts = new long[2];
            if (v.root != 0) {
                walk(v.root, v.depth - 1, true, counts);
            }
            long bs = e.blockSize;
            return new VolumeUsage(v.size, counts[0] * bs, counts[1] * bs, (counts[0] - counts[1]) * bs);
        } finally {
            e.meta.readLock().unlock();
        }
    }

    private void walk(long block, int level, boolean exclusivePath, long[] counts) {
        boolean exclusive = exclusivePath && e.space.rc(block) == 1;
        for (long entry : e.nodes.get(block).entries) {
            if (entry == 0) {
                continue;
            }
            if (level > 0) {
                walk(entry, level - 1, exclusive, counts);
            } else {
                counts[0]++;
                if (exclusive && e.space.rc(entry & MetaBlock.ENTRY_BLOCK) == 1) {
                    counts[1]++;
                }
            }
        }
    }
}

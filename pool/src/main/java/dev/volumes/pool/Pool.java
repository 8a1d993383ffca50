package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * A pool of thin, copy-on-write volumes, snapshots and clones stored inside one {@link Device}
 * (a file, a memory device, later an S3 bucket or an OCI image). The on-disk format and the
 * commit protocol are documented in {@code docs/pool-format.md}.
 *
 * <h2>Promises</h2>
 * <ul>
 *   <li><b>Durability.</b> Everything written to any volume, and every create/snapshot/clone,
 *       becomes durable when {@link #sync()} (or a volume's {@code sync()}, or a FUA write)
 *       returns. A crash at any moment leaves the pool openable at the last completed commit
 *       (or the one being written), with no lost synced data and no changed snapshot.</li>
 *   <li><b>Space.</b> A write that needs more blocks than are free, counted in the worst case
 *       (new data blocks plus every map node to create or shadow), throws
 *       {@link dev.volumes.device.NoSpaceException} before anything changes. A reserve is kept
 *       so {@code sync()} always succeeds on a full pool.</li>
 *   <li><b>Snapshots and clones</b> take constant time and metadata: a new catalog record whose
 *       root shares the source's map.</li>
 *   <li><b>Thread safety.</b> All methods may be called concurrently. Data I/O on different
 *       volumes, and on different blocks of one volume, runs in parallel; see {@link Engine}
 *       for the locking design.</li>
 *   <li><b>Fail-stop.</b> If a commit fails (device write or sync error), every later change
 *       throws an {@code IOException} whose cause is the original failure until the pool is
 *       reopened. Reads keep working.</li>
 *   <li><b>Names</b>: 1 to 64 characters from {@code A-Z a-z 0-9 . _ - @}, not starting
 *       with {@code .}, {@code -} or {@code @}; an invalid name throws {@link IllegalArgumentException}, a taken
 *       name {@link VolumeExistsException}, a missing one {@link VolumeNotFoundException}.</li>
 * </ul>
 *
 * <p>The pool owns the backing device: {@link #close()} syncs and then closes it.
 */
public final class Pool implements Closeable {

    private final Engine engine;
    private final DataPath data;
    private final Committer committer;
    private final Lifecycle lifecycle;

    private Pool(Engine engine) {
        this.engine = engine;
        this.data = new DataPath(engine);
        this.committer = new Committer(engine);
        this.lifecycle = new Lifecycle(this, engine, data);
    }

    /**
     * Creates an empty pool filling {@code backing} (whole blocks; a trailing partial block is
     * unused) and commits it. Any earlier pool on the device is destroyed (its superblock ring is
     * zeroed first).
     *
     * @throws IllegalArgumentException if the device is too small for the ring, a catalog and
     *     the reserve, or has more than 2^31 - 1 blocks
     * @throws IOException if the device fails; the pool is then not usable
     */
    public static Pool create(Device backing, PoolOptions options) throws IOException {
        Pool pool = createPool(backing, options);
        pool.engine.apply(options);
        return pool;
    }

    private static Pool createPool(Device backing, PoolOptions options) throws IOException {
        if (backing == null || options == null) {
            throw new IllegalArgumentException("backing device and options are required");
        }
        int bs = options.blockSize();
        long total = backing.size() / bs;
        long first = Superblock.firstDataBlock(bs);
        long reserve = options.reserveBlocks(total);
        long minimum = first + reserve + 8;
        if (total < minimum || total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("pool on '" + backing.name() + "': " + backing.size() + " bytes give "
                    + total + " blocks of " + bs + " bytes; need " + minimum + " to " + Integer.MAX_VALUE
                    + " (ring " + first + " + reserve " + reserve + " + 8)");
        }
        backing.write(ByteBuffer.allocate(Superblock.SLOTS * Superblock.SLOT_SIZE), 0);
        backing.sync();
        Engine e = new Engine(backing, bs, UUID.randomUUID(), options.label(), System.currentTimeMillis(), total,
                reserve, 0, 1);
        Pool pool = new Pool(e);
        pool.committer.commit();
        return pool;
    }

    /**
     * Creates a new sparse pool file of {@code size} bytes with {@link FileDevice} and a pool in
     * it. The pool owns the file device and closes it in {@link #close()}.
     *
     * @throws java.nio.file.FileAlreadyExistsException if the file exists (never overwritten)
     * @throws IllegalArgumentException as {@link #create(Device, PoolOptions)}
     */
    public static Pool create(Path file, long size, PoolOptions options) throws IOException {
        FileDevice device = FileDevice.create(file, size);
        try {
            return create(device, options);
        } catch (IOException | RuntimeException e) {
            closeQuietly(device, e);
            try {
                Files.deleteIfExists(file);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Opens the pool in an existing file (locked against other writers by {@link FileDevice}).
     *
     * @throws dev.volumes.device.DeviceInUseException if another process or open holds the file
     * @throws CorruptPoolException as {@link #open(Device)}
     */
    public static Pool open(Path file) throws IOException {
        return open(file, PoolOptions.defaults());
    }

    /**
     * Opens the pool in an existing file with runtime options ({@link PoolOptions#lowSpaceThreshold()},
     * listener, {@link PoolOptions#discardFreed()}); the format options stored in the pool win.
     */
    public static Pool open(Path file, PoolOptions options) throws IOException {
        FileDevice device = FileDevice.open(file);
        try {
            return open(device, options);
        } catch (IOException | RuntimeException e) {
            closeQuietly(device, e);
            throw e;
        }
    }

    private static void closeQuietly(Device device, Throwable failure) {
        try {
            device.close();
        } catch (IOException suppressed) {
            failure.addSuppressed(suppressed);
        }
    }

    /**
     * Opens the pool stored in {@code backing}: picks the newest superblock whose checksum and
     * whole tree verify, falling back to the generation before it (see docs/pool-format.md
     * "Recovery rule"). Reads every map node once and rebuilds reference counts.
     *
     * @throws CorruptPoolException if no acceptable generation verifies; the message names the
     *     block and what was expected, earlier attempts are suppressed exceptions
     */
    public static Pool open(Device backing) throws IOException {
        return open(backing, PoolOptions.defaults());
    }

    /**
     * As {@link #open(Device)} with runtime options (low-space threshold and listener, discard of
     * freed blocks); block size, reserve and label come from the pool itself.
     */
    public static Pool open(Device backing, PoolOptions options) throws IOException {
        if (backing == null || options == null) {
            throw new IllegalArgumentException("backing device and options are required");
        }
        Engine e = new Loader(backing).open();
        e.apply(options);
        return new Pool(e);
    }

    /**
     * Creates an empty thin volume of {@code size} bytes (not rounded). Durable at the next sync.
     *
     * @throws IllegalArgumentException for an invalid name or a negative or too large size
     * @throws VolumeExistsException if the name is taken
     * @throws dev.volumes.device.NoSpaceException if the catalog cannot grow
     */
    public VolumeInfo createVolume(String name, long size) throws IOException {
        Names.check(name);
        if (size < 0) {
            throw new IllegalArgumentException("volume '" + name + "': negative size " + size);
        }
        int depth = engine.depthFor(size);
        engine.meta.writeLock().lock();
        try {
            engine.ensureWritable("create volume '" + name + "'");
            Volume v = add(name, VolumeKind.VOLUME, size, depth, 0, "", 0, 0);
            return info(v);
        } finally {
            engine.meta.writeLock().unlock();
        }
    }

    /**
     * Opens a device on a volume, snapshot (read-only) or clone.
     *
     * @throws VolumeNotFoundException if there is no such name
     */
    public Device openVolume(String name) throws IOException {
        engine.ensureOpen("open volume '" + name + "'");
        engine.meta.readLock().lock();
        try {
            Volume v = engine.volumes.get(name);
            if (v == null) {
                throw new VolumeNotFoundException(engine.device.name(), name);
            }
            return new VolumeDevice(this, engine, data, v);
        } finally {
            engine.meta.readLock().unlock();
        }
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Deletes a volume, snapshot or clone. Its references drop at once; the blocks no other volume
     * shares become reusable (and are discarded on the backing) when the commit after the one
     * recording the delete is durable, that is after two syncs. Clones and snapshots of it keep working: they share blocks by
     * reference count, and {@link #list()} still names it as their origin, marked deleted. Works
     * on a full pool (no new blocks needed but the catalog, which the commit reserve covers).
     * Durable at the next sync.
     *
     * @throws VolumeNotFoundException if there is no such name
     * @throws dev.volumes.device.DeviceInUseException if a device opened on it is still open
     * @throws dev.volumes.device.ReadOnlyDeviceException if the pool's backing is read-only
     */
    public void delete(String name) throws IOException {
        lifecycle.delete(volume(name));
    }

    /**
     * Resizes a volume or clone online: open devices see the new size at once. Shrinking unmaps
     * every block past the new size (works on a full pool, using the space-freeing reserve);
     * growing exposes zeros, adding map levels if needed (one block per level) and zeroing the
     * rest of the old last block (a copy-on-write if it is shared). Durable at the next sync.
     *
     * @throws dev.volumes.device.ReadOnlyDeviceException for a snapshot or a read-only pool
     * @throws IllegalArgumentException for a negative or too large size
     * @throws dev.volumes.device.NoSpaceException if new map levels, or zeroing a shared partial
     *     last block when growing, need blocks the pool does not have; the size is then unchanged
     */
    public void resize(String name, long newSize) throws IOException {
        resize(volume(name), newSize);
    }

    void resize(Volume v, long newSize) throws IOException {
        lifecycle.resize(v, newSize);
    }

    /**
     * Grows the pool to the backing device's current size (whole blocks) and commits. Returns the
     * pool's new total bytes (unchanged if the device did not grow). Shrinking a pool is not
     * supported: a smaller device is ignored.
     *
     * @throws IOException if the commit fails (fail-stop as for {@link #sync()})
     */
    public long grow() throws IOException {
        return lifecycle.grow();
    }

    /**
     * Resizes the backing device to {@code newBackingSize} bytes, then {@link #grow()}s.
     *
     * @throws IllegalArgumentException if that is smaller than the pool
     * @throws dev.volumes.device.UnsupportedDeviceOperationException if the backing cannot resize
     */
    public long grow(long newBackingSize) throws IOException {
        return lifecycle.grow(newBackingSize);
    }

    /**
     * Space used by one volume: mapped, exclusive (what deleting it would free) and shared data.
     * Walks its map (cost proportional to its unique map nodes).
     *
     * @throws VolumeNotFoundException if there is no such name
     */
    public VolumeUsage usage(String name) throws IOException {
        return lifecycle.usage(volume(name));
    }

    /**
     * The byte ranges that may differ between {@code older} and {@code newer}, two volumes of one
     * lineage (one is the other's ancestor, or they share one, even a deleted one): sorted,
     * merged, block-aligned (clipped to the larger size). Subtrees the two maps share are skipped
     * by pointer, so the cost is proportional to the map nodes that differ. Data blocks that were
     * rewritten with the same bytes are reported (the answer is a superset of the byte
     * differences, never a subset).
     *
     * @throws VolumeNotFoundException if either does not exist
     * @throws IllegalArgumentException naming both if they are not of one lineage
     */
    public List<ChangedRange> diff(String older, String newer) throws IOException {
        engine.ensureOpen("diff");
        return new Differ(engine).diff(older, newer);
    }

    /**
     * Exports a volume to a new sparse raw file of its size: holes, and data blocks that read as
     * zeros, are left as holes in the file. Reads what the volume holds while it runs (export a
     * snapshot for a consistent image). The file is forced to disk before this returns.
     *
     * @throws java.nio.file.FileAlreadyExistsException if the file exists (never overwritten)
     * @throws VolumeNotFoundException if there is no such volume
     */
    public void exportRaw(String volume, Path rawFile, Progress progress) throws IOException {
        new RawImage(this, engine, data).export(volume(volume), rawFile, progress);
    }

    /**
     * Imports a raw file as a new volume of the file's size, in one commit: all-zero blocks and
     * holes are not stored; the volume appears (in {@link #list()}) only when everything is
     * written and committed, and any failure (including {@code NoSpaceException}) frees what was
     * written and leaves no volume.
     *
     * @throws VolumeExistsException if the name is taken
     */
    public VolumeInfo importRaw(Path rawFile, String newVolume, Progress progress) throws IOException {
        Names.check(newVolume);
        return new RawImage(this, engine, data).importFile(rawFile, newVolume, progress);
    }

    /**
     * Repairs what {@link #check()} finds and can fix safely: leaked blocks are reclaimed, wrong
     * reference counts and mapped counters are rebuilt from the maps, metadata blocks whose copy
     * on the device is damaged are rewritten to fresh blocks from the verified in-memory copy, and
     * damaged or stale superblock slots are overwritten by fresh commits. It refuses (with the
     * reason) what it cannot fix without guessing: an in-memory map that points at a missing node
     * or at one block twice, and data blocks (which carry no checksum in format v1). Commits and
     * returns a report with a fresh check.
     */
    public RepairReport repair() throws IOException {
        engine.ensureWritable("repair");
        return new Repairer(engine, committer).run();
    }

    /**
     * Takes an immutable snapshot of {@code source} (any volume, snapshot or clone) in constant
     * time. Writes that completed before the call are in it; writes in progress wait.
     *
     * @throws VolumeNotFoundException if the source does not exist
     * @throws VolumeExistsException if the name is taken
     */
    public VolumeInfo snapshot(String source, String name) throws IOException {
        return branch(source, name, VolumeKind.SNAPSHOT);
    }

    /** Makes a writable clone of {@code source} in constant time; errors as {@link #snapshot}. */
    public VolumeInfo clone(String source, String name) throws IOException {
        return branch(source, name, VolumeKind.CLONE);
    }

    private VolumeInfo branch(String source, String name, VolumeKind kind) throws IOException {
        Names.check(name);
        Volume src = volume(source);
        src.rw.writeLock().lock();
        try {
            engine.meta.writeLock().lock();
            try {
                engine.ensureWritable(kind.name().toLowerCase() + " '" + name + "' of '" + source + "'");
                if (engine.volumes.get(source) != src) {
                    throw new VolumeNotFoundException(engine.device.name(), source);
                }
                Volume v = add(name, kind, src.size, src.depth, src.id, src.name, src.root, src.lineage);
                v.mapped = src.mapped;
                if (src.root != 0) {
                    engine.space.incRef(src.root);
                }
                return info(v);
            } finally {
                engine.meta.writeLock().unlock();
            }
        } finally {
            src.rw.writeLock().unlock();
        }
    }

    Volume add(String name, VolumeKind kind, long size, int depth, long originId, String originName,
            long root, long lineage) throws IOException {
        if (engine.volumes.containsKey(name)) {
            throw new VolumeExistsException(engine.device.name(), name);
        }
        long growth = engine.catalogBlocksFor(engine.volumes.size() + 1) - engine.catalogBlocksFor(engine.volumes.size());
        if (growth > engine.available()) {
            throw engine.noSpace(engine.device.name(), "catalog record for '" + name + "'", growth);
        }
        long id = engine.nextVolumeId++;
        Volume v = new Volume(id, name, kind, size, depth, Instant.now(), originId, originName, root,
                lineage == 0 ? id : lineage);
        engine.volumes.put(name, v);
        engine.catalogDirty = true;
        return v;
    }

    Volume volume(String name) throws IOException {
        engine.meta.readLock().lock();
        try {
            Volume v = engine.volumes.get(name);
            if (v == null) {
                throw new VolumeNotFoundException(engine.device.name(), name);
            }
            return v;
        } finally {
            engine.meta.readLock().unlock();
        }
    }

    /** Every volume, snapshot and clone, in creation order; origins deleted since are marked. */
    public List<VolumeInfo> list() {
        engine.meta.readLock().lock();
        try {
            List<VolumeInfo> out = new ArrayList<>();
            java.util.Set<Long> ids = liveIds();
            for (Volume v : engine.volumes.values()) {
                out.add(info(v, ids));
            }
            return out;
        } finally {
            engine.meta.readLock().unlock();
        }
    }

    /** The named volume, snapshot or clone, if present. */
    public Optional<VolumeInfo> find(String name) {
        engine.meta.readLock().lock();
        try {
            Volume v = engine.volumes.get(name);
            return v == null ? Optional.empty() : Optional.of(info(v));
        } finally {
            engine.meta.readLock().unlock();
        }
    }

    /** Meta held. */
    VolumeInfo info(Volume v) {
        return info(v, liveIds());
    }

    private java.util.Set<Long> liveIds() {
        java.util.Set<Long> ids = new java.util.HashSet<>();
        for (Volume o : engine.volumes.values()) {
            ids.add(o.id);
        }
        return ids;
    }

    private VolumeInfo info(Volume v, java.util.Set<Long> liveIds) {
        boolean originDeleted = v.originId != 0 && !liveIds.contains(v.originId);
        return new VolumeInfo(v.name, v.kind, v.size, v.mapped * engine.blockSize, v.origin(), v.created,
                originDeleted);
    }

    /**
     * Identity and space accounting right now: total, used (live data and metadata, plus blocks
     * freed but not yet reusable), free (what ordinary writes may still take) and reserved (held
     * back for commits and space-freeing operations) blocks, with byte accessors.
     */
    public PoolInfo info() {
        engine.meta.readLock().lock();
        try {
            return engine.info();
        } finally {
            engine.meta.readLock().unlock();
        }
    }

    /**
     * Commits: every write that returned before the call, and every create/snapshot/clone, is
     * durable when this returns. Succeeds on a full pool (the catalog space is reserved).
     *
     * @throws IOException if the device fails; the pool then refuses changes until reopened
     */
    public void sync() throws IOException {
        committer.commit();
    }

    /**
     * Walks everything and reports inconsistencies as typed findings ({@link CheckReport.Kind}):
     * bad checksums and stale copies of committed metadata blocks on the device, dangling and
     * out-of-range pointers, blocks reached twice, wrong reference counts, leaked blocks,
     * referenced blocks marked free, counters, and damaged or stale superblock slots (with the
     * valid slots' generations). Data blocks carry no checksum in format v1, so damage to data is
     * not detected. Blocks commits while it runs; data I/O continues except that planning and
     * publishing of writes wait for the in-memory part. Read-only: see {@link #repair()}.
     */
    public CheckReport check() throws IOException {
        engine.ensureOpen("check");
        return new Checker(engine).run();
    }

    /** Syncs (unless the pool has failed), closes every volume handle and the backing device. */
    @Override
    public void close() throws IOException {
        if (engine.closed()) {
            return;
        }
        IOException failure = null;
        if (engine.failure() == null) {
            try {
                sync();
            } catch (IOException e) {
                failure = e;
            }
        }
        engine.markClosed();
        try {
            engine.device.close();
        } catch (IOException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** The backing device (for tests and tools). */
    Device backing() {
        return engine.device;
    }

    Engine engine() {
        return engine;
    }

    DataPath data() {
        return data;
    }

    Committer committer() {
        return committer;
    }
}

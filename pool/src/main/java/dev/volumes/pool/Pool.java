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

    private Pool(Engine engine) {
        this.engine = engine;
        this.data = new DataPath(engine);
        this.committer = new Committer(engine);
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
        FileDevice device = FileDevice.open(file);
        try {
            return open(device);
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
        if (backing == null) {
            throw new IllegalArgumentException("backing device is required");
        }
        return new Pool(new Loader(backing).open());
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
            Volume v = add(name, VolumeKind.VOLUME, size, depth, 0, "", 0);
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
        return new VolumeDevice(this, engine, data, volume(name));
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
                Volume v = add(name, kind, src.size, src.depth, src.id, src.name, src.root);
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

    private Volume add(String name, VolumeKind kind, long size, int depth, long originId, String originName,
            long root) throws IOException {
        if (engine.volumes.containsKey(name)) {
            throw new VolumeExistsException(engine.device.name(), name);
        }
        long growth = engine.catalogBlocksFor(engine.volumes.size() + 1) - engine.catalogBlocksFor(engine.volumes.size());
        if (growth > engine.available()) {
            throw engine.noSpace(engine.device.name(), "catalog record for '" + name + "'", growth);
        }
        Volume v = new Volume(engine.nextVolumeId++, name, kind, size, depth, Instant.now(), originId, originName,
                root);
        engine.volumes.put(name, v);
        engine.catalogDirty = true;
        return v;
    }

    private Volume volume(String name) throws IOException {
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

    /** Every volume, snapshot and clone, in creation order. */
    public List<VolumeInfo> list() {
        engine.meta.readLock().lock();
        try {
            List<VolumeInfo> out = new ArrayList<>();
            for (Volume v : engine.volumes.values()) {
                out.add(info(v));
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

    private VolumeInfo info(Volume v) {
        return new VolumeInfo(v.name, v.kind, v.size, v.mapped * engine.blockSize, v.origin(),
                v.created);
    }

    /** Identity and space accounting right now. */
    public PoolInfo info() {
        engine.meta.readLock().lock();
        try {
            long total = engine.space.total();
            long free = engine.space.free();
            long available = Math.max(0, engine.available());
            return new PoolInfo(engine.uuid, engine.label, Superblock.VERSION, engine.blockSize, total, total - free,
                    available, free - available, engine.committedGen);
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
     * Walks everything and reports inconsistencies: reference counts versus references, leaked
     * and doubly used blocks, the free-space bitmap, and the checksum and content of every
     * committed metadata block on the device. Blocks commits while it runs; data I/O continues
     * except that planning and publishing of writes wait for the in-memory part.
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
}

package dev.volumes.cli;

import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolInfo;
import dev.volumes.pool.VolumeInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

/**
 * {@link PoolService} over a pool opened in this process. Used by commands when no daemon is
 * running (the pool file's lock keeps a second writer out) and by the daemon itself.
 */
class LocalPoolService implements PoolService {

    private final String path;
    private final Pool pool;

    /** {@code path} says where the pool is (a file path or the backing URI), for messages and {@code pool info}. */
    LocalPoolService(String path, Pool pool) {
        this.path = path;
        this.pool = pool;
    }

    /**
     * Opens the pool of {@code dir}: the backing recorded by {@code pool create --backing}
     * ({@link PoolBacking}), else the file {@code DIR/default.pool}; none is {@link ExitCode#NOT_FOUND}.
     */
    static LocalPoolService open(DataDir dir) throws IOException {
        return new LocalPoolService(where(dir), openPool(dir));
    }

    /** The pool of {@code dir} opened directly (see {@link #open(DataDir)}). */
    static Pool openPool(DataDir dir) throws IOException {
        java.util.Optional<PoolBacking> backing = PoolBacking.recorded(dir);
        if (backing.isPresent()) {
            dev.volumes.device.Device device = backing.get().open();
            try {
                return Pool.open(device);
            } catch (IOException | RuntimeException e) {
                try {
                    device.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }
        if (!Files.exists(dir.pool())) {
            throw new CliException(ExitCode.NOT_FOUND, "no pool at " + dir.pool()
                    + ": create one with `volumes pool create` or start `volumes serve`");
        }
        return Pool.open(dir.pool());
    }

    /** Whether {@code dir} has a pool (a recorded backing or the default file). */
    static boolean exists(DataDir dir) {
        return Files.exists(dir.root().resolve(PoolBacking.FILE)) || Files.exists(dir.pool());
    }

    /** Where the pool of {@code dir} lives, for messages. */
    static String where(DataDir dir) throws IOException {
        return PoolBacking.recorded(dir).map(PoolBacking::uri).orElse(dir.pool().toString());
    }

    Pool pool() {
        return pool;
    }

    String path() {
        return path;
    }

    @Override
    public PoolView poolInfo() {
        PoolInfo info = pool.info();
        return new PoolView(path, info.uuid().toString(), info.label(), info.formatVersion(),
                info.blockSize(), info.totalBytes(), info.usedBytes(), info.freeBytes(), info.reservedBytes(),
                info.generation(), pool.list().size());
    }

    @Override
    public List<VolumeView> list() throws IOException {
        return pool.list().stream().map(v -> view(v, null)).toList();
    }

    @Override
    public VolumeView info(String name) throws IOException {
        VolumeInfo v = find(name);
        dev.volumes.pool.VolumeUsage u = pool.usage(name);
        return view(v, exportOf(name)).withUsage(
                new LifecycleViews.Usage(u.mappedBytes(), u.exclusiveBytes(), u.sharedBytes()));
    }

    @Override
    public VolumeView delete(String name, boolean snapshotOnly) throws IOException {
        VolumeInfo v = deletable(name, snapshotOnly);
        pool.delete(name);
        pool.sync();
        return view(v, null);
    }

    /** The volume to delete; a non-snapshot when only snapshots may be deleted is exit 2. */
    final VolumeInfo deletable(String name, boolean snapshotOnly) {
        VolumeInfo v = find(name);
        if (snapshotOnly && v.kind() != dev.volumes.pool.VolumeKind.SNAPSHOT) {
            throw new CliException(ExitCode.USAGE, "'" + name + "' is a " + v.kind().name().toLowerCase(java.util.Locale.ROOT)
                    + ", not a snapshot: delete it with `volumes volume delete " + name + "`");
        }
        return v;
    }

    @Override
    public VolumeView resize(String name, long size) throws IOException {
        find(name);
        pool.resize(name, size);
        pool.sync();
        return view(find(name), exportOf(name));
    }

    @Override
    public PoolView grow(Long backingSize) throws IOException {
        if (backingSize == null) {
            pool.grow();
        } else {
            pool.grow(backingSize);
        }
        pool.sync();
        return poolInfo();
    }

    @Override
    public LifecycleViews.Repair repair() throws IOException {
        dev.volumes.pool.RepairReport r = pool.repair();
        return new LifecycleViews.Repair(r.clean(), r.fixed(), r.refused(), r.before().problems(), r.after().problems());
    }

    @Override
    public LifecycleViews.Diff diff(String older, String newer) throws IOException {
        find(older);
        find(newer);
        List<LifecycleViews.Range> ranges = pool.diff(older, newer).stream()
                .map(r -> new LifecycleViews.Range(r.offset(), r.length())).toList();
        return new LifecycleViews.Diff(older, newer, ranges.stream().mapToLong(LifecycleViews.Range::length).sum(), ranges);
    }

    @Override
    public VolumeView exportRaw(String name, java.nio.file.Path file, ProgressListener progress) throws IOException {
        VolumeInfo v = find(name);
        checkExportTarget(file);
        pool.exportRaw(name, file, progress::update);
        return view(v, null);
    }

    static void checkExportTarget(java.nio.file.Path file) {
        if (Files.exists(file)) {
            throw new CliException(ExitCode.EXISTS, file + " exists; export writes a new file and never overwrites one");
        }
    }

    @Override
    public VolumeView importRaw(java.nio.file.Path file, String name, ProgressListener progress) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new CliException(ExitCode.NOT_FOUND, "no raw image file at " + file);
        }
        VolumeInfo created = pool.importRaw(file, name, progress::update);
        pool.sync();
        return view(created, exportOf(name));
    }

    @Override
    public VolumeView createVolume(String name, long size) throws IOException {
        VolumeInfo created = pool.createVolume(name, size);
        pool.sync();
        return view(created, null);
    }

    @Override
    public VolumeView snapshot(String source, String name) throws IOException {
        find(source);
        VolumeInfo created = pool.snapshot(source, name);
        pool.sync();
        return view(created, null);
    }

    @Override
    public VolumeView cloneVolume(String source, String name) throws IOException {
        find(source);
        VolumeInfo created = pool.clone(source, name);
        pool.sync();
        return view(created, null);
    }

    @Override
    public CheckView check() throws IOException {
        return CheckView.of(pool.check());
    }

    @Override
    public OciView freeze(String name, String image, ProgressListener progress) throws IOException {
        find(name);
        return freezeDevice(name, OciAddress.parse(image), progress);
    }

    /** Freezes volume {@code name} as it is now (the caller makes sure nothing writes it). */
    final OciView freezeDevice(String name, OciAddress target, ProgressListener progress) throws IOException {
        dev.volumes.oci.ImageRef ref = target.ref();
        try (dev.volumes.device.Device device = pool.openVolume(name)) {
            dev.volumes.oci.FreezeResult result = dev.volumes.oci.OciImages.freeze(device, target.client(), ref,
                    freezeOptions(name, progress));
            return OciView.of(target, name, result);
        }
    }

    static dev.volumes.oci.FreezeOptions freezeOptions(String source, ProgressListener progress) {
        dev.volumes.oci.FreezeOptions options = dev.volumes.oci.FreezeOptions.defaults().withSource(source);
        long chunk = options.chunkSize();
        return options.withProgress(p -> progress.update(p.chunksDone() * chunk, p.chunksTotal() * chunk));
    }

    @Override
    public VolumeView pull(String image, String name, ProgressListener progress) throws IOException {
        OciAddress source = OciAddress.parse(image);
        try (dev.volumes.oci.ImageDevice from = dev.volumes.oci.ImageDevice.open(source.client(), source.ref(),
                dev.volumes.oci.ImageOptions.defaults())) {
            pool.createVolume(name, from.size());
            try (dev.volumes.device.Device to = pool.openVolume(name)) {
                copyData(from, to, progress);
                to.sync();
            } catch (IOException | RuntimeException e) {
                try {
                    pool.delete(name);
                    pool.sync();
                } catch (IOException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            pool.sync();
        }
        return view(find(name), exportOf(name));
    }

    /** Copies the data extents of {@code from} to {@code to} in 1 MiB pieces; holes and zero runs are skipped. */
    static void copyData(dev.volumes.device.Device from, dev.volumes.device.Device to, ProgressListener progress)
            throws IOException {
        List<dev.volumes.device.Extent> data = from.extents(0, from.size()).stream()
                .filter(e -> !e.type().readsAsZeros()).toList();
        long total = data.stream().mapToLong(dev.volumes.device.Extent::length).sum();
        long done = 0;
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(1 << 20);
        progress.update(0, total);
        for (dev.volumes.device.Extent e : data) {
            for (long off = e.offset(); off < e.end(); ) {
                int n = (int) Math.min(buffer.capacity(), e.end() - off);
                buffer.clear().limit(n);
                from.read(buffer, off);
                buffer.flip();
                to.write(buffer, off);
                off += n;
                done += n;
                progress.update(done, total);
            }
        }
    }

    @Override
    public VolumeView attach(String image, String name) throws IOException {
        throw needsDaemon("oci attach");
    }

    @Override
    public OciView commit(String name, String image, ProgressListener progress) throws IOException {
        throw needsDaemon("oci commit");
    }

    @Override
    public VolumeView detach(String name, boolean discard) throws IOException {
        throw needsDaemon("oci detach");
    }

    private CliException needsDaemon(String what) {
        return new CliException(ExitCode.FAILURE, "`volumes " + what + "` works on a running daemon, and none "
                + "serves " + path + ": start `volumes serve` first");
    }

    /** The export name of {@code volume} if this service serves it, else null. */
    String exportOf(String volume) {
        return null;
    }

    VolumeInfo find(String name) {
        return pool.find(name).orElseThrow(() -> new CliException(ExitCode.NOT_FOUND,
                "no volume, snapshot or clone named '" + name + "' in " + path + " (see `volumes volume list`)"));
    }

    static VolumeView view(VolumeInfo v, String export) {
        return new VolumeView(v.name(), v.kind().name().toLowerCase(java.util.Locale.ROOT), v.size(),
                v.allocatedBytes(), v.origin().orElse(null), v.created().toString(), export, null, v.originDeleted());
    }

    @Override
    public void close() throws IOException {
        pool.close();
    }
}

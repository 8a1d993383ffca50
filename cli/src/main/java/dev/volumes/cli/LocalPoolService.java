package dev.volumes.cli;

import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolInfo;
import dev.volumes.pool.VolumeInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@link PoolService} over a pool opened in this process. Used by commands when no daemon is
 * running (the pool file's lock keeps a second writer out) and by the daemon itself.
 */
class LocalPoolService implements PoolService {

    private final Path path;
    private final Pool pool;

    LocalPoolService(Path path, Pool pool) {
        this.path = path;
        this.pool = pool;
    }

    /** Opens the pool file at {@code path}; a missing file is {@link ExitCode#NOT_FOUND}. */
    static LocalPoolService open(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new CliException(ExitCode.NOT_FOUND, "no pool at " + path
                    + ": create one with `volumes pool create` or start `volumes serve`");
        }
        return new LocalPoolService(path, Pool.open(path));
    }

    Pool pool() {
        return pool;
    }

    Path path() {
        return path;
    }

    @Override
    public PoolView poolInfo() {
        PoolInfo info = pool.info();
        return new PoolView(path.toString(), info.uuid().toString(), info.label(), info.formatVersion(),
                info.blockSize(), info.totalBytes(), info.usedBytes(), info.freeBytes(), info.reservedBytes(),
                info.generation(), pool.list().size());
    }

    @Override
    public List<VolumeView> list() {
        return pool.list().stream().map(v -> view(v, null)).toList();
    }

    @Override
    public VolumeView info(String name) {
        return view(find(name), exportOf(name));
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
        dev.volumes.pool.CheckReport report = pool.check();
        return new CheckView(report.clean(), report.problems(), report.volumes(), report.metadataBlocks(),
                report.dataBlocks(), report.generation());
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
                v.allocatedBytes(), v.origin().orElse(null), v.created().toString(), export);
    }

    @Override
    public void close() throws IOException {
        pool.close();
    }
}

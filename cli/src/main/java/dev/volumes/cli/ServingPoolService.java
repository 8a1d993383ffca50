package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.nbd.NbdServer;
import dev.volumes.pool.Pool;
import dev.volumes.pool.VolumeInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The daemon's {@link PoolService}: a local pool whose every volume, snapshot and clone is also an
 * NBD export of the same name. New volumes become exports as soon as they are created; snapshots
 * are exported read-only. Export devices are opened once and closed by {@link #close()}.
 */
final class ServingPoolService extends LocalPoolService {

    private final NbdServer server;
    private final DaemonMetrics metrics;
    private final Map<String, Device> exported = new ConcurrentHashMap<>();

    ServingPoolService(Path path, Pool pool, NbdServer server, DaemonMetrics metrics) {
        super(path, pool);
        this.server = server;
        this.metrics = metrics;
    }

    /** Exports every volume of the pool that is not exported yet. */
    void exportAll() throws IOException {
        for (VolumeInfo volume : pool().list()) {
            export(volume);
        }
    }

    private void export(VolumeInfo volume) throws IOException {
        if (exported.containsKey(volume.name())) {
            return;
        }
        Device device = metrics.meter(volume.name(), pool().openVolume(volume.name()));
        exported.put(volume.name(), device);
        server.addExport(volume.name(), device, describe(volume));
    }

    private static String describe(VolumeInfo v) {
        String kind = v.kind().name().toLowerCase(java.util.Locale.ROOT);
        return v.origin().map(o -> kind + " of " + o).orElse(kind);
    }

    @Override
    String exportOf(String volume) {
        return exported.containsKey(volume) ? volume : null;
    }

    @Override
    public List<VolumeView> list() {
        return pool().list().stream().map(v -> view(v, exportOf(v.name()))).toList();
    }

    @Override
    public VolumeView createVolume(String name, long size) throws IOException {
        super.createVolume(name, size);
        return exportAndView(name);
    }

    @Override
    public VolumeView snapshot(String source, String name) throws IOException {
        super.snapshot(source, name);
        return exportAndView(name);
    }

    @Override
    public VolumeView cloneVolume(String source, String name) throws IOException {
        super.cloneVolume(source, name);
        return exportAndView(name);
    }

    private VolumeView exportAndView(String name) throws IOException {
        VolumeInfo volume = find(name);
        export(volume);
        return view(volume, name);
    }

    /** Closes every export device, then the pool (which syncs). */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (Map.Entry<String, Device> e : exported.entrySet()) {
            server.removeExport(e.getKey());
            try {
                e.getValue().close();
            } catch (IOException ex) {
                failure = ex;
            }
        }
        exported.clear();
        try {
            super.close();
        } catch (IOException ex) {
            if (failure != null) {
                ex.addSuppressed(failure);
            }
            throw ex;
        }
        if (failure != null) {
            throw failure;
        }
    }
}

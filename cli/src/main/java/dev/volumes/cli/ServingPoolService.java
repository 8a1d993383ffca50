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
 * Attached OCI images ({@link Overlays}) are exports too, under names no pool volume has.
 *
 * <p>Locking and invariants: control requests arrive on several connections at once. Adding an
 * export, deleting and resizing hold this object's monitor, so a name is exported at most once
 * and a delete never races the export of the same name; the invariant is "a pool volume is in
 * {@code exported} iff the NBD server exports it". Delete removes the export (draining its
 * connections) before the pool forgets the volume, and puts it back if the delete fails. Long
 * operations (freeze, export, import, pull) do not hold the monitor: they read snapshots or
 * volumes not yet exported, so exports stay usable meanwhile.
 */
final class ServingPoolService extends LocalPoolService {

    private final NbdServer server;
    private final DaemonMetrics metrics;
    private final Map<String, Device> exported = new ConcurrentHashMap<>();
    private final Overlays overlays;

    /** {@code overlays} is the directory holding attached images' overlays ({@code DIR/overlays}). */
    ServingPoolService(String path, Pool pool, NbdServer server, DaemonMetrics metrics, Path overlays) {
        super(path, pool);
        this.server = server;
        this.metrics = metrics;
        this.overlays = new Overlays(overlays, new Overlays.Exporter() {
            @Override
            public void export(String name, Device device, String description) {
                server.addExport(name, metrics.meter(name, device), description);
            }

            @Override
            public void unexport(String name) {
                server.removeExport(name);
            }
        });
    }

    /** Exports every volume of the pool that is not exported yet, and resumes attached images. */
    void exportAll() throws IOException {
        for (VolumeInfo volume : pool().list()) {
            export(volume);
        }
        overlays.resumeAll();
    }

    private synchronized void export(VolumeInfo volume) throws IOException {
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
    public List<VolumeView> list() throws IOException {
        List<VolumeView> all = new java.util.ArrayList<>(
                pool().list().stream().map(v -> view(v, exportOf(v.name()))).toList());
        all.addAll(overlays.list());
        return all;
    }

    @Override
    public VolumeView info(String name) throws IOException {
        if (overlays.contains(name) && pool().find(name).isEmpty()) {
            try {
                return overlays.view(name);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return super.info(name);
    }

    @Override
    public VolumeView createVolume(String name, long size) throws IOException {
        notAnOverlay(name);
        super.createVolume(name, size);
        return exportAndView(name);
    }

    @Override
    public VolumeView snapshot(String source, String name) throws IOException {
        notAnOverlay(name);
        super.snapshot(source, name);
        return exportAndView(name);
    }

    @Override
    public VolumeView cloneVolume(String source, String name) throws IOException {
        notAnOverlay(name);
        super.cloneVolume(source, name);
        return exportAndView(name);
    }

    /**
     * Removes the export first (its connections drain and close, then its device is closed), then
     * deletes; if the delete fails the export is put back.
     */
    @Override
    public synchronized VolumeView delete(String name, boolean snapshotOnly) throws IOException {
        VolumeInfo v = deletable(name, snapshotOnly);
        Device device = exported.remove(name);
        if (device != null) {
            server.removeExport(name);
            device.close();
        }
        try {
            pool().delete(name);
            pool().sync();
        } catch (IOException | RuntimeException e) {
            if (pool().find(name).isPresent()) {
                try {
                    export(find(name));
                } catch (IOException | RuntimeException again) {
                    e.addSuppressed(again);
                }
            }
            throw e;
        }
        return view(v, null);
    }

    /**
     * Resizes online: the exported device sees the new size at once, so new NBD connections are
     * told the new size in their handshake; requests of connections made before are checked
     * against the new size (NBD cannot tell a connected client its export changed size).
     */
    @Override
    public synchronized VolumeView resize(String name, long size) throws IOException {
        super.resize(name, size);
        return view(find(name), exportOf(name));
    }

    /**
     * Exports a snapshot as it is; a volume or clone (which clients may be writing) is exported
     * through a temporary snapshot {@code NAME@export-TIME}, deleted afterwards.
     */
    @Override
    public VolumeView exportRaw(String name, Path file, ProgressListener progress) throws IOException {
        VolumeInfo volume = find(name);
        if (volume.kind() == dev.volumes.pool.VolumeKind.SNAPSHOT) {
            return super.exportRaw(name, file, progress);
        }
        checkExportTarget(file);
        String temporary = name + "@export-" + System.currentTimeMillis();
        pool().snapshot(name, temporary);
        try {
            pool().exportRaw(temporary, file, progress::update);
        } finally {
            pool().delete(temporary);
            pool().sync();
        }
        return view(volume, exportOf(name));
    }

    @Override
    public VolumeView importRaw(Path file, String name, ProgressListener progress) throws IOException {
        notAnOverlay(name);
        super.importRaw(file, name, progress);
        return exportAndView(name);
    }

    private void notAnOverlay(String name) {
        if (overlays.contains(name)) {
            throw new CliException(ExitCode.EXISTS, "'" + name + "' is an attached image's export; pick another name");
        }
    }

    /**
     * Freezes a snapshot as it is; a volume or clone (which clients may be writing) is first
     * snapshotted as {@code NAME@oci-TIMESTAMP} and that snapshot is frozen. An attached image's
     * overlay is committed instead.
     */
    @Override
    public OciView freeze(String name, String image, ProgressListener progress) throws IOException {
        OciAddress target = OciAddress.parse(image);
        target.ref();
        if (overlays.contains(name) && pool().find(name).isEmpty()) {
            return overlays.commit(name, target, progress);
        }
        VolumeInfo volume = find(name);
        String source = name;
        if (volume.kind() != dev.volumes.pool.VolumeKind.SNAPSHOT) {
            source = name + "@oci-" + java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
                    .withZone(java.time.ZoneOffset.UTC).format(java.time.Instant.now());
            snapshot(name, source);
        }
        return freezeDevice(source, target, progress);
    }

    @Override
    public VolumeView pull(String image, String name, ProgressListener progress) throws IOException {
        notAnOverlay(name);
        super.pull(image, name, progress);
        return exportAndView(name);
    }

    @Override
    public VolumeView attach(String image, String name) throws IOException {
        if (pool().find(name).isPresent()) {
            throw new CliException(ExitCode.EXISTS, "a volume named '" + name + "' exists in " + path()
                    + "; pick another name for the attached image");
        }
        return overlays.attach(OciAddress.parse(image), name);
    }

    @Override
    public OciView commit(String name, String image, ProgressListener progress) throws IOException {
        return overlays.commit(name, OciAddress.parse(image), progress);
    }

    @Override
    public VolumeView detach(String name, boolean discard) throws IOException {
        return overlays.detach(name, discard);
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
        try {
            overlays.close();
        } catch (IOException ex) {
            failure = ex;
        }
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

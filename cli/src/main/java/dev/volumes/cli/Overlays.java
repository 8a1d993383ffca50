package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.oci.FreezeResult;
import dev.volumes.oci.ImageDevice;
import dev.volumes.oci.ImageOptions;
import dev.volumes.oci.Overlay;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The daemon's attached OCI images: each is an {@link Overlay} over a lazily pulled
 * {@link ImageDevice}, exported read-write under its own name, with its changes in
 * {@code DIR/overlays/NAME/} (the overlay's spill files plus {@code attach.json} naming the image
 * as attached, so the next daemon start resumes it). Attach, commit and detach of one name are
 * serialized by this object's monitor; I/O on the exports goes on meanwhile.
 */
final class Overlays implements Closeable {

    /** What {@code attach.json} records. */
    record Attached(String image, String created) {}

    /** Callbacks into the serving daemon: add and remove an NBD export. */
    interface Exporter {
        void export(String name, Device device, String description) throws IOException;

        void unexport(String name) throws IOException;
    }

    private static final String RECORD = "attach.json";

    private final Path root;
    private final Exporter exporter;
    private final Map<String, Entry> attached = new ConcurrentHashMap<>();

    private record Entry(Overlay overlay, Attached record) {}

    Overlays(Path root, Exporter exporter) {
        this.root = root;
        this.exporter = exporter;
    }

    /** Resumes every overlay recorded under the root (at daemon start). */
    synchronized void resumeAll() throws IOException {
        if (!Files.isDirectory(root)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.list(root)) {
            dirs = s.filter(d -> Files.exists(d.resolve(RECORD))).sorted(Comparator.naturalOrder()).toList();
        }
        for (Path dir : dirs) {
            Attached record = ControlProtocol.JSON.readValue(dir.resolve(RECORD).toFile(), Attached.class);
            OciAddress image = OciAddress.parse(record.image());
            Overlay overlay = Overlay.resume(image.client(), dir, ImageOptions.defaults());
            add(dir.getFileName().toString(), overlay, record);
        }
    }

    boolean contains(String name) {
        return attached.containsKey(name);
    }

    /** Attaches {@code image} as {@code name}; EXISTS if {@code name} has a spill directory already. */
    synchronized VolumeView attach(OciAddress image, String name) throws IOException {
        checkName(name);
        Path dir = root.resolve(name);
        if (attached.containsKey(name) || Files.exists(dir)) {
            throw new CliException(ExitCode.EXISTS, "an overlay named '" + name + "' exists in " + dir
                    + " (pick another name, or `volumes oci detach " + name + " --discard` first)");
        }
        ImageDevice base = ImageDevice.open(image.client(), image.ref(), ImageOptions.defaults());
        Overlay overlay;
        try {
            Files.createDirectories(dir);
            overlay = Overlay.open(base, dir);
        } catch (IOException | RuntimeException e) {
            base.close();
            throw e;
        }
        Attached record = new Attached(image.toString(), Instant.now().toString());
        ControlProtocol.JSON.writeValue(dir.resolve(RECORD).toFile(), record);
        add(name, overlay, record);
        return view(name);
    }

    private void add(String name, Overlay overlay, Attached record) throws IOException {
        attached.put(name, new Entry(overlay, record));
        try {
            exporter.export(name, overlay, "overlay of " + record.image());
        } catch (IOException | RuntimeException e) {
            attached.remove(name);
            overlay.close();
            throw e;
        }
    }

    /** Syncs and commits overlay {@code name} as {@code target}, then rebases onto it. */
    synchronized OciView commit(String name, OciAddress target, ProgressListener progress) throws IOException {
        Overlay overlay = entry(name).overlay();
        overlay.sync();
        FreezeResult result = overlay.commit(target.client(), target.ref(), LocalPoolService.freezeOptions(name, progress));
        return OciView.of(target, name, result);
    }

    /** Removes the export, syncs and closes the overlay; deletes its directory if {@code discard}. */
    synchronized VolumeView detach(String name, boolean discard) throws IOException {
        VolumeView view = view(name);
        Entry e = entry(name);
        exporter.unexport(name);
        attached.remove(name);
        try {
            e.overlay().sync();
        } finally {
            e.overlay().close();
        }
        if (discard) {
            try (Stream<Path> s = Files.walk(root.resolve(name))) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        } else {
            Files.delete(root.resolve(name).resolve(RECORD)); // not resumed at the next start
        }
        return view;
    }

    private Entry entry(String name) {
        Entry e = attached.get(name);
        if (e == null) {
            throw new CliException(ExitCode.NOT_FOUND, "no attached image named '" + name
                    + "' (see `volumes volume list`; attach one with `volumes oci attach IMAGE NAME`)");
        }
        return e;
    }

    VolumeView view(String name) throws IOException {
        Entry e = entry(name);
        Overlay o = e.overlay();
        long dirty = (long) o.dirtyChunks().size() * o.base().config().chunkSize();
        return new VolumeView(name, "overlay", o.size(), dirty, e.record().image(), e.record().created(), name);
    }

    List<VolumeView> list() throws IOException {
        List<VolumeView> views = new ArrayList<>();
        for (String name : attached.keySet().stream().sorted().toList()) {
            views.add(view(name));
        }
        return views;
    }

    private static void checkName(String name) {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")) {
            throw new IllegalArgumentException("bad overlay name '" + name
                    + "': letters, digits, '.', '_', '-', '@', starting with a letter or digit");
        }
    }

    /** Syncs and closes every overlay (exports are removed by the caller's server shutdown). */
    @Override
    public synchronized void close() throws IOException {
        IOException failure = null;
        for (Entry e : attached.values()) {
            try {
                e.overlay().sync();
                e.overlay().close();
            } catch (IOException ex) {
                if (failure == null) {
                    failure = ex;
                } else {
                    failure.addSuppressed(ex);
                }
            }
        }
        attached.clear();
        if (failure != null) {
            throw failure;
        }
    }
}

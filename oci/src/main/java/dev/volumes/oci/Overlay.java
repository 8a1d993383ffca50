package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A writable {@link Device} over an {@link ImageDevice}: changed chunks live in a local spill
 * directory, unchanged ones are read from the image, and {@link #commit} pushes only the changed
 * chunks as a new image and then rebases onto it.
 *
 * <h2>Spill directory (format in docs/oci.md)</h2>
 * {@code chunks.data} is a sparse file holding dirty chunk {@code i} at offset {@code i * chunkSize};
 * {@code overlay.json} names the base image (by digest), the registry host and the dirty chunk
 * indexes, and is replaced atomically (write, fsync, rename, fsync directory).
 *
 * <h2>Design</h2>
 * <ul>
 *   <li>The first write to a chunk copies the base chunk into the spill file under that chunk's
 *       stripe lock, then marks it dirty; later writes go straight to the file. A chunk is added
 *       to the dirty set only after its copy is complete, so readers that see it dirty read whole
 *       data.</li>
 *   <li>{@link #sync()}: force the spill file, then write {@code overlay.json} listing every chunk
 *       dirty before the call. A chunk not yet listed reads from the base after a crash, which is
 *       exactly losing unsynced writes (the disk model).</li>
 *   <li>{@link #commit}: takes the commit lock exclusively, so writes wait for the whole commit
 *       (network included; a documented deviation chosen for a consistent image); reads go on.
 *       Dirty chunks are pushed (all-zero ones become holes), base blobs reused in another
 *       repository are mounted, or copied when mounting is refused or the registry differs; then
 *       the manifest is put, the overlay reopens the new image and records it with an empty dirty
 *       set, and the spill file is emptied. A crash before that record leaves the old base and
 *       dirty set, and committing again gives the same image.</li>
 * </ul>
 * Thread-safe. Closing does not sync.
 */
public final class Overlay implements Device {

    private static final int STRIPES = 64;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Capabilities CAPS = Capabilities.of(Capability.EXTENTS, Capability.WRITE_ZEROES);

    private final Path dir;
    private final FileChannel data;
    private final ReentrantReadWriteLock commitLock = new ReentrantReadWriteLock();
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final Set<Integer> dirty = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile ImageDevice base;
    private final Object stateLock = new Object();
    private Set<Integer> recorded = Set.of();

    private Overlay(ImageDevice base, Path dir, FileChannel data) {
        this.base = base;
        this.dir = dir;
        this.data = data;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /**
     * Opens an overlay on {@code base} spilling into {@code dir}. If {@code dir} already holds an
     * overlay of the same base, its synced changes are resumed; the overlay takes ownership of
     * {@code base} and closes it.
     *
     * @throws IOException if {@code dir} holds an overlay of another image, or on I/O failure
     */
    public static Overlay open(ImageDevice base, Path dir) throws IOException {
        Files.createDirectories(dir);
        Set<Integer> resumed = new TreeSet<>();
        Path state = dir.resolve("overlay.json");
        if (Files.exists(state)) {
            JsonNode s = readState(state);
            String recordedBase = s.path("base").asText();
            if (!recordedBase.equals(base.ref().toString()) || !s.path("registry").asText().equals(base.client().host())) {
                throw new IOException("overlay directory " + dir + " belongs to " + s.path("registry").asText() + "/"
                        + recordedBase + ", not " + base.client().host() + "/" + base.ref());
            }
            for (JsonNode i : s.path("dirty")) {
                int index = i.asInt(-1);
                if (index < 0 || index >= base.config().chunkCount()) {
                    throw new IOException(state + ": dirty chunk " + i + " out of range");
                }
                resumed.add(index);
            }
        }
        FileChannel ch = FileChannel.open(dir.resolve("chunks.data"), StandardOpenOption.CREATE,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        Overlay o = new Overlay(base, dir, ch);
        o.dirty.addAll(resumed);
        o.recorded = Set.copyOf(resumed);
        if (!Files.exists(state)) {
            o.writeState(Set.of());
        }
        return o;
    }

    /** Reopens the overlay in {@code dir}, opening its recorded base image through {@code client}. */
    public static Overlay resume(RegistryClient client, Path dir, ImageOptions options) throws IOException {
        JsonNode s = readState(dir.resolve("overlay.json"));
        return open(ImageDevice.open(client, ImageRef.parse(s.path("base").asText()), options), dir);
    }

    /** The image this overlay currently sits on (changes after each commit). */
    public ImageDevice base() {
        return base;
    }

    /** Indexes of chunks changed since the base (sorted). */
    public List<Integer> dirtyChunks() {
        return new ArrayList<>(new TreeSet<>(dirty));
    }

    @Override
    public String name() {
        return "overlay:" + dir;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return base.config().size();
    }

    @Override
    public Capabilities capabilities() {
        return CAPS;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        ensureOpen("read");
        ImageDevice b = base;
        Bounds.checkRange(this, "read", offset, dst.remaining(), b.config().size());
        int cs = b.config().chunkSize();
        while (dst.hasRemaining()) {
            int index = (int) (offset / cs);
            int n = (int) Math.min(dst.remaining(), (long) (index + 1) * cs - offset);
            ByteBuffer part = dst.slice().limit(n);
            if (dirty.contains(index)) {
                readFully(part, offset);
            } else {
                b.read(part, offset);
            }
            dst.position(dst.position() + n);
            offset += n;
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        ensureOpen("write");
        commitLock.readLock().lock();
        try {
            ImageDevice b = base;
            Bounds.checkRange(this, "write", offset, src.remaining(), b.config().size());
            int cs = b.config().chunkSize();
            while (src.hasRemaining()) {
                int index = (int) (offset / cs);
                int n = (int) Math.min(src.remaining(), (long) (index + 1) * cs - offset);
                materialize(b, index, false);
                ByteBuffer part = src.slice().limit(n);
                long at = offset;
                while (part.hasRemaining()) {
                    at += data.write(part, at);
                }
                src.position(src.position() + n);
                offset += n;
            }
        } finally {
            commitLock.readLock().unlock();
        }
    }

    /**
     * Makes chunk {@code index} dirty: copies the base chunk (or zeros, if {@code zeros}) into the
     * spill file. The base chunk is pulled before the stripe lock is taken, so no lock is held
     * across network I/O; the single-flight cache makes a racing second pull free.
     */
    private void materialize(ImageDevice b, int index, boolean zeros) throws IOException {
        if (dirty.contains(index)) {
            return;
        }
        byte[] bytes = zeros ? null : b.chunk(index);
        ReentrantLock lock = stripes[index % STRIPES];
        lock.lock();
        try {
            if (dirty.contains(index)) {
                return;
            }
            int len = b.config().chunkLength(index);
            ByteBuffer buf = bytes == null ? ByteBuffer.allocate(len) : ByteBuffer.wrap(bytes, 0, len);
            long at = (long) index * b.config().chunkSize();
            while (buf.hasRemaining()) {
                at += data.write(buf, at);
            }
            dirty.add(index);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Zeroes {@code [offset, offset + length)}. Whole chunks that are holes in the base and not
     * dirty are left alone (they read zeros already); other whole chunks become dirty zero chunks
     * without pulling the base; partial chunks are written with zeros. A committed all-zero chunk
     * becomes a hole again.
     */
    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        ensureOpen("write-zeroes");
        commitLock.readLock().lock();
        try {
            ImageDevice b = base;
            Bounds.checkRange(this, "write-zeroes", offset, length, b.config().size());
            int cs = b.config().chunkSize();
            long end = offset + length;
            long pos = offset;
            while (pos < end) {
                int index = (int) (pos / cs);
                long chunkStart = (long) index * cs;
                long chunkEnd = chunkStart + b.config().chunkLength(index);
                long stop = Math.min(end, chunkEnd);
                if (pos == chunkStart && stop == chunkEnd) {
                    if (dirty.contains(index) || b.config().chunks().get(index) != null) {
                        materialize(b, index, true);
                        zeroFill(chunkStart, (int) (chunkEnd - chunkStart));
                    }
                } else {
                    materialize(b, index, false);
                    zeroFill(pos, (int) (stop - pos));
                }
                pos = stop;
            }
        } finally {
            commitLock.readLock().unlock();
        }
    }

    private void zeroFill(long at, int n) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate(Math.min(n, 1 << 20));
        long done = 0;
        while (done < n) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), n - done));
            while (zeros.hasRemaining()) {
                done += data.write(zeros, at + done);
            }
        }
    }

    /** Makes every write that returned before the call durable: spill file first, then the record. */
    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
        Set<Integer> snapshot = new HashSet<>(dirty);
        data.force(false);
        synchronized (stateLock) {
            if (!recorded.containsAll(snapshot)) {
                Set<Integer> all = new HashSet<>(recorded);
                all.addAll(snapshot);
                writeState(all);
            }
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        ensureOpen("extents");
        ImageDevice b = base;
        Bounds.checkRange(this, "extents", offset, length, b.config().size());
        List<Extent> out = new ArrayList<>();
        int cs = b.config().chunkSize();
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            int index = (int) (pos / cs);
            long next = Math.min(end, (long) (index + 1) * cs);
            Extent.Type type = dirty.contains(index) || b.config().chunks().get(index) != null
                    ? Extent.Type.DATA : Extent.Type.HOLE;
            if (!out.isEmpty() && out.getLast().type() == type) {
                Extent last = out.removeLast();
                out.add(new Extent(last.offset(), next - last.offset(), type));
            } else {
                out.add(new Extent(pos, next - pos, type));
            }
            pos = next;
        }
        return out;
    }

    /** Commits to {@code target} in the base's registry; see {@link #commit(RegistryClient, ImageRef, FreezeOptions)}. */
    public FreezeResult commit(ImageRef target, FreezeOptions options) throws IOException {
        return commit(base.client(), target, options);
    }

    /**
     * Pushes the changed chunks and a new manifest tagged {@code target} through {@code client}
     * (which may be another repository or registry), makes sure every reused base blob is present
     * there (HEAD, then cross-repository mount, then pull-and-push), then rebases: the new image
     * becomes the base and the dirty set empties. Only {@code options.parallelism()} and
     * annotations apply; the chunk size is the base's. Writes wait while this runs.
     *
     * @throws IOException if any push fails; the overlay is then unchanged (still dirty, same base)
     */
    public FreezeResult commit(RegistryClient client, ImageRef target, FreezeOptions options) throws IOException {
        ensureOpen("commit");
        commitLock.writeLock().lock();
        try {
            sync();
            ImageDevice b = base;
            ImageConfig old = b.config();
            FreezeOptions opts = options.withChunkSize(old.chunkSize());
            ChunkPusher pusher = new ChunkPusher(client, target.repository(), opts);
            Digest[] chunks = old.chunks().toArray(new Digest[0]);
            int[] changed = new TreeSet<>(dirty).stream().mapToInt(Integer::intValue).toArray();
            Set<Digest> reused = new java.util.LinkedHashSet<>();
            Set<Integer> changedSet = new HashSet<>(dirty);
            for (int i = 0; i < chunks.length; i++) {
                if (!changedSet.contains(i) && chunks[i] != null) {
                    reused.add(chunks[i]);
                }
            }
            boolean sameRepo = client.host().equals(b.client().host()) && target.repository().equals(b.ref().repository());
            if (!sameRepo) {
                carryOver(client, target.repository(), b, reused, pusher);
            }
            for (Digest d : reused) {
                pusher.claim(d);
            }
            pusher.push(changed, old.size(), old.chunkSize(), (index, buf, length) -> {
                readFully(ByteBuffer.wrap(buf, 0, length), (long) index * old.chunkSize());
            }, chunks);
            ImageConfig config = new ImageConfig(old.size(), old.chunkSize(), Arrays.asList(chunks));
            String source = opts.source() != null ? opts.source() : b.client().host() + "/" + b.ref();
            FreezeResult result = pusher.publish(target, config, source);
            rebase(ImageDevice.open(client, result.ref(), b.options()));
            return result;
        } finally {
            commitLock.writeLock().unlock();
        }
    }

    private static void carryOver(RegistryClient client, String repository, ImageDevice b, Set<Digest> reused,
            ChunkPusher pusher) throws IOException {
        boolean sameRegistry = client.host().equals(b.client().host());
        java.util.Map<Digest, Integer> length = new java.util.HashMap<>();
        for (int i = 0; i < b.config().chunkCount(); i++) {
            Digest d = b.config().chunks().get(i);
            if (d != null) {
                length.putIfAbsent(d, b.config().chunkLength(i));
            }
        }
        for (Digest d : reused) {
            if (client.blobSize(repository, d).isPresent()) {
                pusher.countSkipped();
            } else if (sameRegistry && client.mountBlob(repository, d, b.ref().repository())) {
                pusher.countSkipped();
            } else {
                byte[] bytes = b.client().pullBlob(b.ref().repository(), d, length.get(d));
                client.pushBlob(repository, d, bytes, 0, bytes.length);
            }
        }
    }

    /**
     * Switches to {@code next}. The spill file keeps its bytes: a reader that saw a chunk dirty just
     * before the switch still reads what was committed; the chunk's next write overwrites it. The old
     * base is not closed for the same reason (a reader may hold it); it is garbage once unused.
     */
    private void rebase(ImageDevice next) throws IOException {
        synchronized (stateLock) {
            base = next;
            dirty.clear();
            writeState(Set.of());
        }
    }

    private void readFully(ByteBuffer dst, long offset) throws IOException {
        long at = offset;
        while (dst.hasRemaining()) {
            int n = data.read(dst, at);
            if (n < 0) { // beyond the spill file's end: never written there, so zeros
                while (dst.hasRemaining()) {
                    dst.put((byte) 0);
                }
                return;
            }
            at += n;
        }
    }

    private void writeState(Set<Integer> dirtyChunks) throws IOException {
        ObjectNode s = JSON.createObjectNode();
        s.put("version", 1);
        s.put("registry", base.client().host());
        s.put("base", base.ref().toString());
        s.put("size", base.config().size());
        s.put("chunkSize", base.config().chunkSize());
        var arr = s.putArray("dirty");
        new TreeSet<>(dirtyChunks).forEach(arr::add);
        Path tmp = dir.resolve("overlay.json.tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(JSON.writeValueAsBytes(s));
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, dir.resolve("overlay.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
        recorded = Set.copyOf(dirtyChunks);
    }

    private static JsonNode readState(Path state) throws IOException {
        JsonNode s;
        try {
            s = JSON.readTree(Files.readAllBytes(state));
        } catch (IOException e) {
            throw new IOException("cannot read overlay record " + state + ": " + e.getMessage(), e);
        }
        if (s == null || s.path("version").asInt() != 1 || !s.path("base").isTextual() || !s.path("dirty").isArray()) {
            throw new IOException("overlay record " + state + " is not a version 1 overlay record");
        }
        return s;
    }

    /** Closes the spill file and the base image. Does not sync: unsynced writes may be lost. */
    @Override
    public void close() throws IOException {
        if (closed.compareAndSet(false, true)) {
            try {
                data.close();
            } finally {
                base.close();
            }
        }
    }

    private void ensureOpen(String op) throws DeviceClosedException {
        if (closed.get()) {
            throw new DeviceClosedException(name(), op);
        }
    }
}

package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
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
 *   <li>Every chunk has a guard (striped read-write lock) and a write generation. A write to a
 *       chunk holds the guard shared while it bumps the generation, makes the chunk dirty and
 *       writes; no network I/O happens under a guard except re-pulling a base chunk when a rebase
 *       slipped in. Writers never wait for each other except on the first write of a chunk.</li>
 *   <li>{@link #commit} (serialized by a mutex; writers and readers do not wait): copies each
 *       dirty chunk together with its generation under the chunk's guard held exclusively (local
 *       I/O only), pushes the copies (all-zero ones become holes), makes reused base blobs
 *       present in the target (mount, else copy), puts the manifest, then rebases: switches the
 *       base, and under each committed chunk's exclusive guard cleans it only if its generation
 *       did not move; a chunk written meanwhile stays dirty for the next commit. Non-dirty chunks
 *       are identical in the old and new base, so a write that materialized from the old base is
 *       still right. The new record lists only still-dirty chunks that were already synced. A
 *       crash before that record leaves the old base and dirty set; committing again gives the
 *       same image.</li>
 * </ul>
 * Thread-safe. Closing does not sync.
 */
public final class Overlay implements Device {

    private static final int STRIPES = 64;
    private static final Capabilities CAPS = Capabilities.of(Capability.EXTENTS, Capability.WRITE_ZEROES);

    private final Path dir;
    private final FileChannel data;
    private final ReentrantLock commitMutex = new ReentrantLock();
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final ReentrantReadWriteLock[] guards = new ReentrantReadWriteLock[STRIPES];
    private final ConcurrentHashMap<Integer, Long> generations = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
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
            guards[i] = new ReentrantReadWriteLock();
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
        ImageConfig config = base.config();
        Bounds.checkRange(this, "write", offset, src.remaining(), config.size());
        int cs = config.chunkSize();
        while (src.hasRemaining()) {
            int index = (int) (offset / cs);
            int n = (int) Math.min(src.remaining(), (long) (index + 1) * cs - offset);
            ByteBuffer part = src.slice().limit(n);
            long at = offset;
            inChunk(index, false, () -> {
                long pos = at;
                while (part.hasRemaining()) {
                    pos += data.write(part, pos);
                }
            });
            src.position(src.position() + n);
            offset += n;
        }
    }

    /** A write into one chunk's bytes of the spill file. */
    private interface ChunkWrite {
        void run() throws IOException;
    }

    /**
     * Runs {@code body} against chunk {@code index} of the spill file under the chunk's guard
     * (shared among writers, exclusive for commit's snapshot and cleanup): bumps the chunk's write
     * generation, makes it dirty (copying the current base chunk, or zeros), then writes. The base
     * chunk is pulled before the guard is taken; only if a rebase slipped in between is it pulled
     * again under the (shared) guard.
     */
    private void inChunk(int index, boolean zeros, ChunkWrite body) throws IOException {
        ImageDevice pulledFrom = base;
        byte[] pulled = zeros || dirty.contains(index) ? null : pulledFrom.chunk(index);
        ReentrantReadWriteLock.ReadLock guard = guards[index % STRIPES].readLock();
        guard.lock();
        try {
            generations.put(index, clock.incrementAndGet());
            ImageDevice b = base;
            if (!zeros && !dirty.contains(index) && (pulled == null || b != pulledFrom)) {
                pulled = b.chunk(index);
            }
            materialize(b, index, pulled);
            body.run();
        } finally {
            guard.unlock();
        }
    }

    /**
     * Makes chunk {@code index} dirty: copies {@code bytes} (the base chunk, or null for zeros)
     * into the spill file, once, under the chunk's stripe mutex; marks it dirty only when the copy
     * is complete, so readers that see it dirty read whole data.
     */
    private void materialize(ImageDevice b, int index, byte[] bytes) throws IOException {
        if (dirty.contains(index)) {
            return;
        }
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
        ImageConfig config = base.config();
        Bounds.checkRange(this, "write-zeroes", offset, length, config.size());
        int cs = config.chunkSize();
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            int index = (int) (pos / cs);
            long chunkStart = (long) index * cs;
            long chunkEnd = chunkStart + config.chunkLength(index);
            long stop = Math.min(end, chunkEnd);
            long from = pos;
            boolean whole = pos == chunkStart && stop == chunkEnd;
            // a whole chunk that is a hole in the base and not dirty reads zeros already
            if (!(whole && !dirty.contains(index) && base.config().chunks().get(index) == null)) {
                inChunk(index, whole, () -> zeroFill(from, (int) (stop - from)));
            }
            pos = stop;
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
            Extent.append(out, pos, next - pos, type);
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
     * annotations apply; the chunk size is the base's. Writes and reads go on while this runs:
     * a write that lands in a chunk after its snapshot keeps that chunk dirty for the next commit.
     * Commits are serialized.
     *
     * @throws IOException if any push fails; the overlay is then unchanged (still dirty, same base)
     */
    public FreezeResult commit(RegistryClient client, ImageRef target, FreezeOptions options) throws IOException {
        ensureOpen("commit");
        commitMutex.lock();
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
                pusher.carryOver(b, reused);
            }
            for (Digest d : reused) {
                pusher.claim(d);
            }
            ConcurrentHashMap<Integer, Long> snapshot = new ConcurrentHashMap<>();
            pusher.push(changed, old.size(), old.chunkSize(), (index, buf, length) -> {
                // a consistent copy of the chunk and the generation it reflects; no network I/O here
                ReentrantReadWriteLock.WriteLock guard = guards[index % STRIPES].writeLock();
                guard.lock();
                try {
                    snapshot.put(index, generations.getOrDefault(index, 0L));
                    readFully(ByteBuffer.wrap(buf, 0, length), (long) index * old.chunkSize());
                } finally {
                    guard.unlock();
                }
            }, chunks);
            ImageConfig config = new ImageConfig(old.size(), old.chunkSize(), Arrays.asList(chunks));
            String source = opts.source() != null ? opts.source() : b.client().host() + "/" + b.ref();
            FreezeResult result = pusher.publish(target, config, source);
            rebase(ImageDevice.open(client, result.ref(), b.options()), snapshot);
            return result;
        } finally {
            commitMutex.unlock();
        }
    }


    /**
     * Switches to {@code next}, then cleans every committed chunk that nobody wrote since its
     * snapshot (same generation, checked under the chunk's exclusive guard); chunks written during
     * the commit stay dirty. The new record lists the base and the still-dirty chunks that were
     * already recorded (synced); the rest get recorded by the next sync. The spill file keeps its
     * bytes: a reader that saw a chunk dirty just before cleanup reads what was committed. The old
     * base is not closed (a reader may hold it); it is garbage once unused.
     */
    private void rebase(ImageDevice next, java.util.Map<Integer, Long> committed) throws IOException {
        synchronized (stateLock) {
            base = next;
        }
        for (var e : committed.entrySet()) {
            ReentrantReadWriteLock.WriteLock guard = guards[e.getKey() % STRIPES].writeLock();
            guard.lock();
            try {
                if (generations.getOrDefault(e.getKey(), 0L).equals(e.getValue())) {
                    dirty.remove(e.getKey());
                    generations.remove(e.getKey()); // only dirty chunks need a generation
                }
            } finally {
                guard.unlock();
            }
        }
        synchronized (stateLock) {
            Set<Integer> keep = new HashSet<>(recorded);
            keep.retainAll(dirty);
            writeState(keep);
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
        OverlayRecord.write(dir, base, dirtyChunks);
        recorded = Set.copyOf(dirtyChunks);
    }

    private static JsonNode readState(Path state) throws IOException {
        return OverlayRecord.read(state);
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

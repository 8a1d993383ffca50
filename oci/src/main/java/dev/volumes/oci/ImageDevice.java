package dev.volumes.oci;

import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A read-only {@link Device} over a volumes image in a registry: chunks are pulled on first read,
 * verified against their digests, and kept in a bounded cache (memory, optionally disk).
 *
 * <p>Design: the image is pinned by manifest digest at open, so a tag moving later changes
 * nothing. The config (size, chunk digests) is immutable and held in memory; all mutable state is
 * in the {@link ChunkCache} (single-flight, bounded). Reads split at chunk boundaries; holes are
 * served as zeros without any request. A read of the chunk right after the previously read one
 * counts as sequential and starts background loads of the next {@code readAhead} chunks on virtual
 * threads (their failures are ignored: the foreground read will retry and report). Writes, write-
 * zeroes, discard and resize throw {@link ReadOnlyDeviceException}; {@link #sync()} is a no-op so
 * layers above that sync on close still work. Thread-safe.
 */
public final class ImageDevice implements Device {

    private static final Capabilities CAPS = Capabilities.of(Capability.READ_ONLY, Capability.EXTENTS,
            Capability.PREFETCH);

    private final RegistryClient client;
    private final ImageRef ref;
    private final ImageConfig config;
    private final ChunkCache cache;
    private final int readAhead;
    private final ImageOptions options;
    private final String name;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicInteger lastChunk = new AtomicInteger(-2);

    private ImageDevice(RegistryClient client, ImageRef ref, ImageConfig config, ImageOptions options)
            throws IOException {
        this.client = client;
        this.ref = ref;
        this.config = config;
        this.readAhead = options.readAhead();
        this.options = options;
        this.name = "oci:" + client.host() + "/" + ref;
        this.cache = new ChunkCache(options.cacheBytes(), options.cacheDirectory(),
                (d, len) -> client.pullBlob(ref.repository(), d, len));
    }

    /**
     * Opens the image {@code ref} names: pulls and verifies its manifest and config and checks they
     * are a volumes image. No chunk is pulled yet.
     *
     * @throws RegistryException (404) if there is no such manifest
     * @throws IOException if it is not a valid volumes image, or on transport failure
     */
    public static ImageDevice open(RegistryClient client, ImageRef ref, ImageOptions options) throws IOException {
        Manifest m = client.getManifest(ref);
        String what = "image " + ref;
        ImageFormat.ParsedManifest parsed = ImageFormat.decodeManifest(m.body(), what);
        if (parsed.config().size() > 512L << 20) {
            throw new IOException(what + ": config of " + parsed.config().size() + " bytes is too large");
        }
        byte[] configBytes = client.pullBlob(ref.repository(), parsed.config().digest(), (int) parsed.config().size());
        ImageConfig config = ImageFormat.decodeConfig(configBytes, what);
        ImageFormat.checkConsistent(config, parsed, what);
        return new ImageDevice(client, ref.withDigest(m.digest()), config, options);
    }

    /** The image this device reads, by manifest digest. */
    public ImageRef ref() {
        return ref;
    }

    /** The image's config: size, chunk size, chunk digests. */
    public ImageConfig config() {
        return config;
    }

    /** The options this device was opened with. */
    public ImageOptions options() {
        return options;
    }

    /** The registry client this device pulls through (owned by the caller). */
    public RegistryClient client() {
        return client;
    }

    /** Chunks downloaded from the registry so far (not counting cache hits). */
    public long downloads() {
        return cache.downloads();
    }

    /** Chunks loaded from the persistent cache directory so far. */
    public long diskCacheHits() {
        return cache.diskHits();
    }

    /** Corrupt files found (and discarded) in the persistent cache directory so far. */
    public long corruptCacheFiles() {
        return cache.corruptFiles();
    }

    /** Whether chunk {@code index}'s bytes are in the memory cache (false for holes). */
    boolean chunkCached(int index) {
        Digest d = config.chunks().get(index);
        return d != null && cache.cached(d);
    }

    /** Memory-cache bytes currently held. */
    long cachedBytes() {
        return cache.heldBytes();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return config.size();
    }

    @Override
    public Capabilities capabilities() {
        return CAPS;
    }

    /**
     * The verified bytes of chunk {@code index} ({@link ImageConfig#chunkLength} long, shared,
     * read-only), or null for a hole.
     */
    byte[] chunk(int index) throws IOException {
        Digest d = config.chunks().get(index);
        return d == null ? null : cache.get(d, config.chunkLength(index));
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        ensureOpen("read");
        Bounds.checkRange(this, "read", offset, dst.remaining(), config.size());
        int cs = config.chunkSize();
        while (dst.hasRemaining()) {
            int index = (int) (offset / cs);
            int within = (int) (offset % cs);
            int n = Math.min(dst.remaining(), config.chunkLength(index) - within);
            noteAccess(index);
            byte[] bytes;
            try {
                bytes = chunk(index);
            } catch (IOException e) {
                throw new IOException("read of " + n + " bytes at offset " + offset + " of '" + name + "' (chunk "
                        + index + ") failed: " + e.getMessage(), e);
            }
            if (bytes == null) {
                for (int i = 0; i < n; i++) {
                    dst.put((byte) 0);
                }
            } else {
                dst.put(bytes, within, n);
            }
            offset += n;
        }
    }

    private void noteAccess(int index) {
        int previous = lastChunk.getAndSet(index);
        if (readAhead > 0 && previous == index - 1) {
            for (int i = index + 1; i <= index + readAhead && i < config.chunkCount(); i++) {
                Digest d = config.chunks().get(i);
                if (d != null && !cache.cached(d)) {
                    int k = i;
                    Thread.ofVirtual().name("oci-readahead").start(() -> {
                        try {
                            chunk(k);
                        } catch (IOException | RuntimeException ignored) {
                            // background only: a foreground read of this chunk retries and reports
                        }
                    });
                }
            }
        }
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        ensureOpen("prefetch");
        Bounds.checkRange(this, "prefetch", offset, length, config.size());
        if (length == 0) {
            return;
        }
        int cs = config.chunkSize();
        for (long i = offset / cs; i <= (offset + length - 1) / cs; i++) {
            chunk((int) i);
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        ensureOpen("extents");
        Bounds.checkRange(this, "extents", offset, length, config.size());
        List<Extent> out = new ArrayList<>();
        long end = offset + length;
        int cs = config.chunkSize();
        long pos = offset;
        while (pos < end) {
            int index = (int) (pos / cs);
            long next = Math.min(end, (long) (index + 1) * cs);
            Extent.Type type = config.chunks().get(index) == null ? Extent.Type.HOLE : Extent.Type.DATA;
            Extent.append(out, pos, next - pos, type);
            pos = next;
        }
        return out;
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        ensureOpen("write");
        throw new ReadOnlyDeviceException(name, "write");
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        ensureOpen("write-zeroes");
        throw new ReadOnlyDeviceException(name, "write-zeroes");
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        ensureOpen("discard");
        throw new ReadOnlyDeviceException(name, "discard");
    }

    @Override
    public void resize(long newSize) throws IOException {
        ensureOpen("resize");
        throw new ReadOnlyDeviceException(name, "resize");
    }

    /** Nothing to make durable: a no-op (so pools opened read-only on an image can close cleanly). */
    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
    }

    /** Drops the memory cache; the registry client stays open (the caller owns it). Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            cache.clear();
        }
    }

    private void ensureOpen(String op) throws DeviceClosedException {
        if (closed.get()) {
            throw new DeviceClosedException(name, op);
        }
    }
}

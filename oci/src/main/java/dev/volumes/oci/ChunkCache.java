package dev.volumes.oci;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Verified chunk bytes by digest: a bounded LRU in memory, an optional directory on disk, and the
 * registry behind them.
 *
 * <p>Design: the LRU is an access-ordered {@link LinkedHashMap} guarded by this object's monitor,
 * held only for map operations, never across I/O; it holds at most {@code capacity} bytes (a chunk
 * larger than that is returned but not kept). Misses are single-flight: the first thread to miss a
 * digest installs a future in {@code loading} and loads; concurrent missers wait on that future, so
 * each chunk is downloaded once however many threads want it. (A load remembers its bytes before it
 * leaves {@code loading}, and a thread that wins the slot looks in memory again before loading, so a
 * miss that raced a finishing load does not download the chunk a second time.) A failed load completes the future
 * exceptionally and is removed, so nothing wrong is ever cached and the next reader retries.
 * Disk files are named by digest, written to a temporary name and renamed, and re-hashed when
 * loaded: a corrupt file is deleted and pulled again. Returned arrays are shared: read-only.
 */
final class ChunkCache {

    /** Pulls a verified blob. */
    interface Loader {
        byte[] load(Digest digest, int length) throws IOException;
    }

    private final long capacity;
    private final Path dir;
    private final Loader loader;
    private final LinkedHashMap<Digest, byte[]> lru = new LinkedHashMap<>(16, 0.75f, true);
    private long held;
    private final ConcurrentHashMap<Digest, CompletableFuture<byte[]>> loading = new ConcurrentHashMap<>();
    private final AtomicLong downloads = new AtomicLong();
    private final AtomicLong diskHits = new AtomicLong();
    private final AtomicLong corruptFiles = new AtomicLong();
    /** Runs between a memory miss and the single-flight check (tests widen the race window). */
    Runnable afterMissForTest = () -> { };

    ChunkCache(long capacity, Path dir, Loader loader) throws IOException {
        this.capacity = capacity;
        this.dir = dir;
        this.loader = loader;
        if (dir != null) {
            Files.createDirectories(dir);
        }
    }

    /** The verified bytes of {@code digest} ({@code length} long), loading them if needed. */
    byte[] get(Digest digest, int length) throws IOException {
        synchronized (this) {
            byte[] hit = lru.get(digest);
            if (hit != null) {
                return hit;
            }
        }
        afterMissForTest.run();
        CompletableFuture<byte[]> mine = new CompletableFuture<>();
        CompletableFuture<byte[]> running = loading.putIfAbsent(digest, mine);
        if (running != null) {
            return await(running, digest);
        }
        try {
            // A load that finished between the miss above and putIfAbsent has already removed its
            // future: look again before going to the network (it remembered the bytes first).
            byte[] bytes;
            synchronized (this) {
                bytes = lru.get(digest);
            }
            if (bytes == null) {
                bytes = loadVerified(digest, length);
                remember(digest, bytes);
            }
            mine.complete(bytes);
            return bytes;
        } catch (IOException | RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            loading.remove(digest, mine);
        }
    }

    /** Whether the memory LRU holds {@code digest} (tests). */
    synchronized boolean cached(Digest digest) {
        return lru.containsKey(digest);
    }

    /** Bytes held in memory. */
    synchronized long heldBytes() {
        return held;
    }

    /** Network downloads so far. */
    long downloads() {
        return downloads.get();
    }

    /** Chunks served from the disk cache so far. */
    long diskHits() {
        return diskHits.get();
    }

    /** Corrupt disk-cache files found (and deleted) so far. */
    long corruptFiles() {
        return corruptFiles.get();
    }

    private static byte[] await(CompletableFuture<byte[]> f, Digest digest) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for chunk " + digest);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                IOException copy = new IOException(io.getMessage(), io);
                throw copy;
            }
            throw new IOException("loading chunk " + digest + " failed: " + e.getCause(), e.getCause());
        }
    }

    private byte[] loadVerified(Digest digest, int length) throws IOException {
        Path file = dir == null ? null : dir.resolve(digest.hex());
        if (file != null) {
            try {
                byte[] onDisk = Files.readAllBytes(file);
                if (onDisk.length == length && Digest.sha256(onDisk).equals(digest)) {
                    diskHits.incrementAndGet();
                    return onDisk;
                }
                corruptFiles.incrementAndGet();
                Files.deleteIfExists(file);
            } catch (NoSuchFileException absent) {
                // not cached on disk yet
            }
        }
        byte[] bytes = loader.load(digest, length);
        downloads.incrementAndGet();
        if (bytes.length != length) {
            throw new IOException("chunk " + digest + " is " + bytes.length + " bytes, the image says " + length);
        }
        if (file != null) {
            Path tmp = dir.resolve(digest.hex() + ".tmp-" + Thread.currentThread().threadId());
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return bytes;
    }

    private synchronized void remember(Digest digest, byte[] bytes) {
        if (bytes.length > capacity || lru.containsKey(digest)) {
            return;
        }
        lru.put(digest, bytes);
        held += bytes.length;
        Iterator<Map.Entry<Digest, byte[]>> it = lru.entrySet().iterator();
        while (held > capacity && it.hasNext()) {
            Map.Entry<Digest, byte[]> eldest = it.next();
            held -= eldest.getValue().length;
            it.remove();
        }
    }

    /** Drops everything held in memory. */
    synchronized void clear() {
        lru.clear();
        held = 0;
    }
}

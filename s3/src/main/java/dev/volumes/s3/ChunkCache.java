package dev.volumes.s3;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The bounded write-back chunk cache of an {@link S3Device}.
 *
 * <p>Design. {@code lru} (access-ordered, guarded by {@code lock}, never held across network I/O)
 * maps chunk index → {@link Entry}; it holds at most {@code maxEntries = budget / chunkSize}
 * entries, beyond that only while every entry is pinned by an operation in progress. An entry's
 * bytes are guarded by its own {@code lock}, which a loader holds across the GET that fills it (so
 * concurrent users of that one chunk wait for one GET); {@code data == null} in a loaded entry
 * means all zeros. Each change bumps {@code version}; {@code cleanVersion} is the version known to
 * be in the bucket. Uploads of one chunk are serialised by its {@code uploadLock} and upload a copy
 * taken under the entry lock, so the newest copy always lands last and writers never wait for the
 * network. Eviction removes only clean, unpinned entries; dirty LRU victims are uploaded first (up
 * to {@code concurrency} at once). Lock order: {@code lock} → entry lock; uploadLock → entry lock.
 */
final class ChunkCache {

    /** Checked before every upload; throws once the writer has been deposed. */
    interface Fence {
        void check() throws IOException;
    }

    static final class Entry {
        final long index;
        final ReentrantLock lock = new ReentrantLock();
        final ReentrantLock uploadLock = new ReentrantLock();
        byte[] data; // guarded by lock; null = zeros
        boolean loaded; // guarded by lock
        boolean remoteAbsent; // guarded by lock: the bucket is known to have no object
        volatile long version;
        volatile long cleanVersion;
        int pins; // guarded by ChunkCache.lock

        Entry(long index) {
            this.index = index;
        }

        boolean dirty() {
            return version != cleanVersion;
        }
    }

    private final S3Client client;
    private final String bucket;
    private final String chunkPrefix;
    private final int chunkSize;
    private final int maxEntries;
    private final int concurrency;
    private final int readAhead;
    private final Fence fence;
    private final java.util.concurrent.locks.Lock backgroundLock;
    private final java.util.function.LongSupplier deviceSize;
    private final String deviceName;
    private final ReentrantLock lock = new ReentrantLock();
    private final LinkedHashMap<Long, Entry> lru = new LinkedHashMap<>(64, 0.75f, true);
    private final Semaphore uploads;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    ChunkCache(S3Client client, String bucket, String chunkPrefix, int chunkSize, long budgetBytes, int concurrency,
            int readAhead, Fence fence, java.util.concurrent.locks.Lock backgroundLock, java.util.function.LongSupplier deviceSize,
            String deviceName) {
        if (budgetBytes / chunkSize < 2) {
            throw new IllegalArgumentException("cache budget " + budgetBytes + " holds fewer than 2 chunks of "
                    + chunkSize);
        }
        this.client = client;
        this.bucket = bucket;
        this.chunkPrefix = chunkPrefix;
        this.chunkSize = chunkSize;
        this.maxEntries = (int) Math.min(Integer.MAX_VALUE, budgetBytes / chunkSize);
        this.concurrency = concurrency;
        this.readAhead = readAhead;
        this.fence = fence;
        this.backgroundLock = backgroundLock;
        this.deviceSize = deviceSize;
        this.deviceName = deviceName;
        this.uploads = new Semaphore(concurrency);
    }

    int chunkSize() {
        return chunkSize;
    }

    /** The object key of chunk {@code index}: 16 lower-case hex digits, so key order = index order. */
    String key(long index) {
        return chunkPrefix + String.format("%016x", index);
    }

    long indexOf(String key) {
        return Long.parseUnsignedLong(key.substring(chunkPrefix.length()), 16);
    }

    // ---- data path --------------------------------------------------------------------------

    void read(ByteBuffer dst, long offset) throws IOException {
        while (dst.hasRemaining()) {
            long idx = offset / chunkSize;
            int within = (int) (offset % chunkSize);
            int n = Math.min(dst.remaining(), chunkSize - within);
            Entry e = pin(idx);
            try {
                e.lock.lock();
                try {
                    load(e);
                    if (e.data == null) {
                        for (int i = 0; i < n; i++) {
                            dst.put((byte) 0);
                        }
                    } else {
                        dst.put(e.data, within, n);
                    }
                } finally {
                    e.lock.unlock();
                }
            } finally {
                unpin(e);
            }
            offset += n;
        }
    }

    void write(ByteBuffer src, long offset) throws IOException {
        while (src.hasRemaining()) {
            long idx = offset / chunkSize;
            int within = (int) (offset % chunkSize);
            int n = Math.min(src.remaining(), chunkSize - within);
            Entry e = pin(idx);
            try {
                e.lock.lock();
                try {
                    if (n == chunkSize) {
                        if (e.data == null) {
                            e.data = new byte[chunkSize];
                        }
                        e.loaded = true; // whole-chunk write: no GET
                    } else {
                        load(e);
                        if (e.data == null) {
                            e.data = new byte[chunkSize];
                        }
                    }
                    src.get(e.data, within, n);
                    e.version++;
                } finally {
                    e.lock.unlock();
                }
            } finally {
                unpin(e);
            }
            offset += n;
        }
    }

    /** Zeros the range; whole chunks become "absent" without a GET. */
    void zero(long offset, long length) throws IOException {
        long end = offset + length;
        while (offset < end) {
            long idx = offset / chunkSize;
            int within = (int) (offset % chunkSize);
            int n = (int) Math.min(end - offset, chunkSize - within);
            Entry e = pin(idx);
            try {
                e.lock.lock();
                try {
                    if (n == chunkSize) {
                        e.data = null;
                        e.loaded = true;
                    } else {
                        load(e);
                        if (e.data != null) {
                            Arrays.fill(e.data, within, within + n, (byte) 0);
                        }
                    }
                    e.version++;
                } finally {
                    e.lock.unlock();
                }
            } finally {
                unpin(e);
            }
            offset += n;
        }
    }

    /** Loads the entry if needed; caller holds {@code e.lock}. */
    private void load(Entry e) throws IOException {
        if (e.loaded) {
            return;
        }
        try {
            byte[] got = client.getObject(bucket, key(e.index)).data();
            if (got.length != chunkSize) {
                throw new IOException(deviceName + ": chunk object " + key(e.index) + " has " + got.length
                        + " bytes, expected " + chunkSize);
            }
            e.data = isZero(got) ? null : got;
            e.remoteAbsent = false;
        } catch (S3NoSuchKeyException absent) {
            e.data = null;
            e.remoteAbsent = true;
        }
        e.loaded = true;
    }

    /** Whether the cache knows chunk {@code idx} holds data (TRUE), zeros (FALSE) or does not know (null). */
    Boolean cachedHasData(long idx) {
        Entry e;
        lock.lock();
        try {
            e = lru.get(idx);
        } finally {
            lock.unlock();
        }
        if (e == null) {
            return null;
        }
        e.lock.lock();
        try {
            if (!e.loaded) {
                return null;
            }
            return e.data != null && !isZero(e.data);
        } finally {
            e.lock.unlock();
        }
    }

    // ---- read-ahead -------------------------------------------------------------------------

    /** Starts loading up to {@code readAhead} chunks from {@code from}, if the cache has room. */
    void readAhead(long from, long deviceSize) {
        if (readAhead == 0) {
            return;
        }
        long first = (from + chunkSize - 1) / chunkSize;
        long lastExclusive = Math.min((deviceSize + chunkSize - 1) / chunkSize, first + readAhead);
        for (long i = first; i < lastExclusive; i++) {
            long idx = i;
            lock.lock();
            try {
                if (lru.containsKey(idx) || lru.size() + 1 >= maxEntries - concurrency) {
                    continue;
                }
            } finally {
                lock.unlock();
            }
            executor.execute(() -> {
                backgroundLock.lock(); // the device's size read lock: no resize while loading
                try {
                    if (idx < (this.deviceSize.getAsLong() + chunkSize - 1) / chunkSize) { // still inside after a resize
                        loadChunk(idx);
                    }
                } catch (IOException | RuntimeException ignored) {
                    // advisory: the real read retries and reports
                } finally {
                    backgroundLock.unlock();
                }
            });
        }
    }

    void prefetch(long offset, long length) throws IOException {
        for (long i = offset / chunkSize; i <= (offset + length - 1) / chunkSize; i++) {
            lock.lock();
            try {
                if (lru.size() + 1 >= maxEntries) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            loadChunk(i);
        }
    }

    private void loadChunk(long idx) throws IOException {
        Entry e = pin(idx);
        try {
            e.lock.lock();
            try {
                load(e);
            } finally {
                e.lock.unlock();
            }
        } finally {
            unpin(e);
        }
    }

    // ---- pinning and eviction ---------------------------------------------------------------

    private Entry pin(long idx) throws IOException {
        while (true) {
            List<Entry> toUpload = new ArrayList<>();
            lock.lock();
            try {
                Entry e = lru.get(idx);
                if (e == null && lru.size() >= maxEntries) {
                    evictClean();
                    if (lru.size() >= maxEntries) {
                        for (Entry v : lru.values()) {
                            if (v.pins == 0 && v.dirty() && toUpload.size() < concurrency) {
                                toUpload.add(v);
                            }
                        }
                    }
                }
                if (e != null || lru.size() < maxEntries || toUpload.isEmpty()) {
                    if (e == null) {
                        e = new Entry(idx); // over budget only when every entry is pinned
                        lru.put(idx, e);
                    }
                    e.pins++;
                    return e;
                }
            } finally {
                lock.unlock();
            }
            uploadAll(toUpload); // write-back on eviction, outside the cache lock
        }
    }

    private void unpin(Entry e) {
        lock.lock();
        try {
            e.pins--;
        } finally {
            lock.unlock();
        }
    }

    /** Removes clean unpinned entries from the LRU end until there is room; caller holds lock. */
    private void evictClean() {
        Iterator<Entry> it = lru.values().iterator();
        while (lru.size() >= maxEntries && it.hasNext()) {
            Entry v = it.next();
            if (v.pins == 0 && !v.dirty() && v.lock.tryLock()) {
                try {
                    if (!v.dirty()) {
                        it.remove();
                    }
                } finally {
                    v.lock.unlock();
                }
            }
        }
    }

    // ---- write-back -------------------------------------------------------------------------

    /** Uploads every dirty entry, in parallel; returns when all are in the bucket or throws. */
    void flushAll() throws IOException {
        List<Entry> dirty = new ArrayList<>();
        lock.lock();
        try {
            for (Entry e : lru.values()) {
                if (e.dirty()) {
                    dirty.add(e);
                }
            }
        } finally {
            lock.unlock();
        }
        uploadAll(dirty);
    }

    /** Uploads the dirty entries overlapping the range (FUA). */
    void flushRange(long offset, long length) throws IOException {
        List<Entry> dirty = new ArrayList<>();
        lock.lock();
        try {
            for (long i = offset / chunkSize; i <= (offset + length - 1) / chunkSize; i++) {
                Entry e = lru.get(i);
                if (e != null && e.dirty()) {
                    dirty.add(e);
                }
            }
        } finally {
            lock.unlock();
        }
        uploadAll(dirty);
    }

    private void uploadAll(List<Entry> entries) throws IOException {
        if (entries.size() == 1) {
            upload(entries.getFirst());
            return;
        }
        List<Future<?>> futures = new ArrayList<>();
        for (Entry e : entries) {
            futures.add(executor.submit(() -> {
                upload(e);
                return null;
            }));
        }
        IOException failure = null;
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException ex) {
                IOException io = ex.getCause() instanceof IOException i ? i
                        : new IOException(deviceName + ": upload failed: " + ex.getCause(), ex.getCause());
                if (failure == null) {
                    failure = io;
                } else {
                    failure.addSuppressed(io);
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(deviceName + ": interrupted while uploading");
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void upload(Entry e) throws IOException {
        e.uploadLock.lock();
        try {
            byte[] copy;
            long v;
            boolean knownAbsent;
            e.lock.lock();
            try {
                if (!e.dirty()) {
                    return;
                }
                v = e.version;
                copy = e.data == null || isZero(e.data) ? null : e.data.clone();
                knownAbsent = e.remoteAbsent;
            } finally {
                e.lock.unlock();
            }
            fence.check();
            uploads.acquireUninterruptibly();
            try {
                if (copy != null) {
                    client.putObject(bucket, key(e.index), copy);
                } else if (!knownAbsent) {
                    client.deleteObject(bucket, key(e.index)); // all-zero chunks are not stored
                }
            } finally {
                uploads.release();
            }
            e.lock.lock();
            try {
                e.remoteAbsent = copy == null;
                if (e.cleanVersion < v) {
                    e.cleanVersion = v;
                }
            } finally {
                e.lock.unlock();
            }
        } finally {
            e.uploadLock.unlock();
        }
    }

    /** Forgets chunks at or beyond {@code firstIndex} (after a shrink), dirty or not. */
    void dropFrom(long firstIndex) {
        lock.lock();
        try {
            lru.values().removeIf(e -> e.index >= firstIndex && e.pins == 0);
        } finally {
            lock.unlock();
        }
    }

    void clear() {
        lock.lock();
        try {
            lru.clear();
        } finally {
            lock.unlock();
        }
        executor.shutdownNow();
    }

    static boolean isZero(byte[] b) {
        for (int i = 0; i < b.length; i += 8192) {
            int n = Math.min(8192, b.length - i);
            if (Arrays.mismatch(b, i, i + n, ZEROS, 0, n) >= 0) {
                return false;
            }
        }
        return true;
    }

    private static final byte[] ZEROS = new byte[8192];
}

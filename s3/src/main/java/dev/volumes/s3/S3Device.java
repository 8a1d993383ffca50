package dev.volumes.s3;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.Extent;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A {@link Device} whose bytes live in an S3 bucket as fixed-size chunk objects under a prefix,
 * plus one metadata object (see docs/s3.md for the layout). Never-written and all-zero chunks are
 * absent and read as zeros.
 *
 * <p>Design. A bounded write-back {@link ChunkCache} holds chunks in memory; writes land there
 * and are uploaded on eviction and on {@link #sync()} (in parallel, bounded concurrency). The
 * one-writer rule is enforced with the metadata object ({@link WriterLease}): opening for write
 * replaces it with a conditional PUT that bumps the writer epoch and names this writer; every
 * sync starts with a HEAD of it and ends with a conditional PUT ({@code If-Match} the ETag this writer last wrote), so a writer that was deposed
 * (its metadata replaced by a takeover) fails its next sync and stays failed. Locks: data
 * operations share {@code sizeLock}'s read lock; resize takes its write lock; {@code syncLock}
 * serialises syncs and metadata updates. No device-wide lock is held across network I/O by data
 * operations (only per-chunk locks, see {@link ChunkCache}); resize and sync hold theirs across
 * their uploads, which is what makes them barriers.
 *
 * <p>Durability: a write is visible on return and durable after the next successful sync or when
 * written with FUA. A failed sync keeps every dirty chunk; the next sync or close retries it.
 * Weakness (documented): a deposed writer's uploads already in flight may land after a takeover;
 * the deposed writer learns of it at its next sync, not before.
 */
public final class S3Device implements Device {

    private static final Capabilities CAPS = Capabilities.of(Capability.FUA, Capability.DISCARD,
            Capability.DISCARD_READS_ZEROES, Capability.WRITE_ZEROES, Capability.WRITE_ZEROES_UNMAP,
            Capability.EXTENTS, Capability.RESIZE, Capability.PREFETCH);

    private final S3Client client;
    private final String bucket;
    private final String prefix;
    private final String name;
    private final boolean readOnly;
    private final ChunkCache cache;
    private final ReentrantReadWriteLock sizeLock = new ReentrantReadWriteLock();
    private final ReentrantLock syncLock = new ReentrantLock();
    private volatile long size;
    private volatile boolean closed;
    private volatile IOException deposed;
    private final WriterLease lease; // used under syncLock
    private volatile long shrunkTo = Long.MAX_VALUE; // set under sizeLock's write lock, cleared by sync under syncLock
    private volatile long lastReadEnd = -1;

    private S3Device(S3DeviceOptions o, WriterLease lease) {
        this.client = o.client();
        this.bucket = o.bucket();
        this.prefix = o.prefix();
        this.name = "s3://" + bucket + "/" + prefix;
        this.readOnly = o.readOnly();
        this.lease = lease;
        this.size = lease.meta().size();
        this.cache = new ChunkCache(client, bucket, prefix + "chunks/", lease.meta().chunkSize(), o.cacheBytes(),
                o.uploadConcurrency(), o.readAheadChunks(), this::checkNotDeposed, sizeLock.readLock(),
                () -> size, name);
    }

    /**
     * Creates a new device of {@code size} bytes at the options' bucket and prefix, taking the
     * writer epoch. Stale chunk objects under the prefix (from an older device) are deleted.
     *
     * @throws IOException if a device already exists there, or the server lacks conditional
     *     writes and {@link S3DeviceOptions.Builder#allowUnsafeWithoutConditionalWrites} is off
     */
    public static S3Device create(S3DeviceOptions o, long size) throws IOException {
        if (o.readOnly()) {
            throw new IllegalArgumentException("cannot create a read-only device");
        }
        WriterLease lease = WriterLease.create(o, size);
        List<String> stale = o.client().listAll(o.bucket(), o.prefix() + "chunks/", null).stream()
                .map(S3Client.ObjectInfo::key).toList();
        o.client().deleteObjects(o.bucket(), stale);
        return new S3Device(o, lease);
    }

    /**
     * Opens the device at the options' bucket and prefix. For writing it takes a new writer epoch
     * with a conditional PUT of the metadata object.
     *
     * @throws DeviceInUseException if another writer holds it (unless
     *     {@link S3DeviceOptions.Builder#takeOver} is set) or won a concurrent open
     * @throws S3NoSuchKeyException if no device exists there
     */
    public static S3Device open(S3DeviceOptions o) throws IOException {
        return new S3Device(o, WriterLease.open(o));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        checkOpen("size");
        return size;
    }

    @Override
    public Capabilities capabilities() {
        return readOnly ? CAPS.with(Capability.READ_ONLY) : CAPS;
    }

    @Override
    public BlockSizes blockSizes() {
        return new BlockSizes(1, Math.min(cache.chunkSize(), 1 << 20), 32 << 20);
    }

    /** The chunk size in bytes. */
    public int chunkSize() {
        return cache.chunkSize();
    }

    /** The writer epoch this instance holds (or read at open, if read-only). */
    public long epoch() {
        syncLock.lock();
        try {
            return lease.meta().epoch();
        } finally {
            syncLock.unlock();
        }
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        sizeLock.readLock().lock();
        try {
            checkOpen("read");
            Bounds.checkRange(this, "read", offset, dst.remaining(), size);
            boolean sequential = offset == lastReadEnd;
            long end = offset + dst.remaining();
            cache.read(dst, offset);
            lastReadEnd = end;
            if (sequential && end < size) {
                cache.readAhead(end, size);
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        sizeLock.readLock().lock();
        try {
            checkWritable("write");
            Bounds.checkRange(this, "write", offset, src.remaining(), size);
            long length = src.remaining();
            cache.write(src, offset);
            if (flag == WriteFlag.FUA && length > 0) {
                cache.flushRange(offset, length);
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        sizeLock.readLock().lock();
        try {
            checkWritable("write-zeroes");
            Bounds.checkRange(this, "write-zeroes", offset, length, size);
            cache.zero(offset, length);
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    /** Discard reads back as zeros: whole chunks become absent objects at the next sync. */
    @Override
    public void discard(long offset, long length) throws IOException {
        sizeLock.readLock().lock();
        try {
            checkWritable("discard");
            Bounds.checkRange(this, "discard", offset, length, size);
            cache.zero(offset, length);
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        sizeLock.readLock().lock();
        try {
            checkOpen("prefetch");
            Bounds.checkRange(this, "prefetch", offset, length, size);
            if (length > 0) {
                cache.prefetch(offset, length);
            }
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    /** Holes are chunks with no object in the bucket (and not dirty in the cache) or zero in the cache. */
    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        sizeLock.readLock().lock();
        try {
            checkOpen("extents");
            Bounds.checkRange(this, "extents", offset, length, size);
            if (length == 0) {
                return List.of();
            }
            int cs = cache.chunkSize();
            long first = offset / cs;
            long last = (offset + length - 1) / cs;
            Set<Long> remote = new HashSet<>();
            String start = first == 0 ? null : cache.key(first - 1);
            String token = null;
            outer:
            do {
                S3Client.ListPage page = client.listObjectsV2(bucket, prefix + "chunks/", token == null ? start : null,
                        token, 1000);
                for (S3Client.ObjectInfo o : page.objects()) {
                    long idx = cache.indexOf(o.key());
                    if (idx > last) {
                        break outer;
                    }
                    if (idx >= first) {
                        remote.add(idx);
                    }
                }
                token = page.nextContinuationToken().orElse(null);
            } while (token != null);
            List<Extent> out = new ArrayList<>();
            for (long i = first; i <= last; i++) {
                Boolean cached = cache.cachedHasData(i);
                boolean data = cached != null ? cached : remote.contains(i);
                long s = Math.max(offset, i * cs);
                long e = Math.min(offset + length, (i + 1) * cs);
                Extent.append(out, s, e - s, data ? Extent.Type.DATA : Extent.Type.HOLE);
            }
            return out;
        } finally {
            sizeLock.readLock().unlock();
        }
    }

    /**
     * Grows or shrinks. The bytes between the old and new size read as zeros after growing;
     * objects left beyond the size (by an earlier shrink or a crash) are deleted before growing
     * exposes them. The new size is durable after the next sync.
     */
    @Override
    public void resize(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + name + "': negative size " + newSize);
        }
        sizeLock.writeLock().lock();
        try {
            checkWritable("resize");
            long old = size;
            if (newSize == old) {
                return;
            }
            int cs = cache.chunkSize();
            if (newSize < old) {
                cache.dropFrom((newSize + cs - 1) / cs);
                if (newSize % cs != 0) {
                    cache.zero(newSize, Math.min(old, (newSize / cs + 1) * cs) - newSize);
                }
                shrunkTo = Math.min(shrunkTo, newSize);
            } else {
                long firstAbsent = (old + cs - 1) / cs;
                List<String> stale = client.listAll(bucket, prefix + "chunks/",
                        firstAbsent == 0 ? null : cache.key(firstAbsent - 1)).stream().map(S3Client.ObjectInfo::key)
                        .toList();
                cache.dropFrom(firstAbsent);
                client.deleteObjects(bucket, stale);
                if (old % cs != 0) {
                    size = newSize; // so the zeroing below is in range
                    cache.zero(old, Math.min(newSize, firstAbsent * cs) - old);
                }
            }
            size = newSize;
        } finally {
            sizeLock.writeLock().unlock();
        }
    }

    /**
     * Checks (HEAD) that the metadata object is still the one this writer wrote, uploads every
     * dirty chunk (in parallel), deletes chunks beyond a shrunk size, then replaces the metadata
     * object conditionally on the ETag this writer last wrote. Returns only when all
     * of that is acknowledged by the server.
     *
     * @throws DeviceInUseException if another writer took the device over (fail-stop)
     * @throws IOException if an upload failed; dirty data is kept for the next attempt
     */
    @Override
    public void sync() throws IOException {
        checkOpen("sync");
        if (readOnly) {
            return;
        }
        checkNotDeposed();
        syncLock.lock();
        try {
            try {
                lease.checkStillOurs(); // a deposed writer must not start uploading over its successor
            } catch (WriterLease.LostException e) {
                throw depose(e.getMessage(), e);
            }
            long sizeNow;
            sizeLock.readLock().lock();
            try {
                sizeNow = size;
                cache.flushAll();
                if (shrunkTo != Long.MAX_VALUE) {
                    // Chunks wholly beyond the size, left by a shrink; resize cannot run meanwhile.
                    int cs = cache.chunkSize();
                    long firstGone = (sizeNow + cs - 1) / cs;
                    List<String> stale = client.listAll(bucket, prefix + "chunks/",
                            firstGone == 0 ? null : cache.key(firstGone - 1)).stream()
                            .filter(o -> cache.indexOf(o.key()) >= firstGone).map(S3Client.ObjectInfo::key).toList();
                    client.deleteObjects(bucket, stale);
                    shrunkTo = Long.MAX_VALUE;
                }
            } finally {
                sizeLock.readLock().unlock();
            }
            commitMeta(lease.meta().withSize(sizeNow));
        } finally {
            syncLock.unlock();
        }
    }

    private void commitMeta(DeviceMeta next) throws IOException {
        try {
            lease.commit(next);
        } catch (WriterLease.LostException e) {
            throw depose(e.getMessage(), e);
        }
    }

    private IOException depose(String why, IOException cause) {
        DeviceInUseException ex = new DeviceInUseException(name, "this writer of " + name + " was deposed: " + why
                + "; writes since the last successful sync may be lost; reopen", cause);
        deposed = ex;
        return ex;
    }

    /**
     * Syncs, releases the writer epoch and closes. If the sync fails the device stays open with
     * its dirty data, and this throws; calling close again retries.
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        if (!readOnly && deposed == null) {
            syncLock.lock();
            try {
                sync();
                DeviceMeta m = lease.meta();
                commitMeta(new DeviceMeta(m.size(), m.chunkSize(), m.epoch(), DeviceMeta.NO_WRITER));
            } finally {
                syncLock.unlock();
            }
        }
        closed = true;
        cache.clear();
        IOException d = deposed;
        if (d != null) {
            throw new DeviceInUseException(name, "closed without syncing: " + d.getMessage(), d);
        }
    }

    private void checkOpen(String op) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name, op);
        }
    }

    private void checkWritable(String op) throws IOException {
        checkOpen(op);
        if (readOnly) {
            throw new ReadOnlyDeviceException(name, op);
        }
        checkNotDeposed();
    }

    private void checkNotDeposed() throws IOException {
        IOException d = deposed;
        if (d != null) {
            throw new DeviceInUseException(name, d.getMessage(), d);
        }
    }

    @Override
    public String toString() {
        return "S3Device[" + name + ", chunk=" + cache.chunkSize() + "]";
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;

/**
 * Rebuilds one out-of-sync member from an in-sync one, beside live writes.
 *
 * <h2>Why it cannot diverge</h2>
 * <ol>
 *   <li>The target is switched to {@link ReplicaState#REBUILDING} first, so every write that
 *       snapshots its targets afterwards also writes the target.</li>
 *   <li>Then the dirty regions are snapshotted. A write that snapshotted its targets before the
 *       switch had already set its bits ({@link DirtyMap#begin} precedes the target snapshot), so
 *       its regions are in the copy list.</li>
 *   <li>Each chunk is copied holding its range in {@link RangeLocks}: a live write to the chunk
 *       lands on source and target either wholly before or wholly after the copy.</li>
 *   <li>Before the target's old device is reused the engine waits until none of its requests is
 *       still in flight (a hung request could otherwise land later over a copied chunk).</li>
 *   <li>The target is synced, its header gets the current generation (FUA) and only then is it
 *       marked in sync, all under the membership lock so no drop-out moves the generation in
 *       between.</li>
 * </ol>
 * A delta copies the dirty regions plus {@link Member#ownRegions}: a replica whose header is of an
 * older term than the set's freshest may hold a deposed writer's writes outside the current
 * line's dirty map (its own header bitmap names them; start-up sets it).
 * Chunks are copied one at a time; zero and hole runs of the source (per its extents) are written
 * as write-zeroes. The optional throttle sleeps between chunks, never while holding a range; it
 * paces rebuilds only, not start-up's repair of the activity log ({@link #copyRegions}).
 */
final class Rebuilder {

    private final Engine engine;

    Rebuilder(Engine engine) {
        this.engine = engine;
    }

    RebuildReport rebuild(Member target) throws IOException {
        if (!target.rebuilding.compareAndSet(false, true)) {
            throw new IllegalStateException(engine.name + ": replica " + target.id + " is already being rebuilt");
        }
        long started = System.nanoTime();
        try {
            if (target.state != ReplicaState.OUT_OF_SYNC) {
                throw new IllegalStateException(engine.name + ": replica " + target.id + " is " + target.state
                        + "; only an out-of-sync replica can be rebuilt");
            }
            reattach(target);
            if (target.needsFull) {
                // its old header (a replacement's earlier life) must not outlive a partial copy
                run(target, "header wipe", ReplicaHeader::wipe);
            }
            boolean delta;
            BitSet regions;
            engine.membership.lock();
            try {
                delta = !target.needsFull;
                target.state = ReplicaState.REBUILDING;
                target.reason = "rebuilding";
            } finally {
                engine.membership.unlock();
            }
            if (delta) {
                regions = engine.dirty.dirtyRegions();
                BitSet own = target.ownRegions;
                if (own != null) {
                    regions.or(own); // what an older term wrote on it alone (docs/replication.md §5)
                }
            } else {
                regions = new BitSet();
                regions.set(0, engine.dirty.regions());
            }
            Member source = null;
            long copied;
            try {
                source = pickSource(target);
                copied = copy(source, target, regions, delta);
                finish(target);
            } catch (IOException | RuntimeException e) {
                abort(target, e);
                throw e;
            }
            return new RebuildReport(target.id, source.id, delta, regions.cardinality(), copied,
                    Duration.ofNanos(System.nanoTime() - started));
        } finally {
            target.rebuilding.set(false);
        }
    }

    /**
     * Copies {@code regions} of {@code [0, dataSize)} from source to target, in order, <b>not
     * throttled</b>: this is start-up's repair of the activity log (docs/replication.md
     * "Start-up" step 5), which runs inside {@code open()} before any write is accepted, so a
     * throttle would only delay every failover without sparing any live I/O.
     */
    long copyRegions(Member source, Member target, BitSet regions) throws IOException {
        return copy(source, target, regions, true, false);
    }

    private long copy(Member source, Member target, BitSet regions, boolean delta) throws IOException {
        return copy(source, target, regions, delta, true);
    }

    private long copy(Member source, Member target, BitSet regions, boolean delta, boolean throttled)
            throws IOException {
        long regionSize = engine.dirty.regionSize();
        long total = 0;
        for (int r = regions.nextSetBit(0); r >= 0; r = regions.nextSetBit(r + 1)) {
            total += Math.min(regionSize, engine.dataSize - r * regionSize);
        }
        target.rebuildTotal = total;
        target.rebuildDone = 0;
        int chunk = engine.config.chunkSize();
        ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
        long done = 0;
        long t0 = engine.config.pacer().nanoTime();
        for (int r = regions.nextSetBit(0); r >= 0; r = regions.nextSetBit(r + 1)) {
            // coalesce a run of set regions into one span
            int end = regions.nextClearBit(r);
            long spanStart = r * regionSize;
            long spanEnd = Math.min(engine.dataSize, end * regionSize);
            for (long at = spanStart; at < spanEnd; at += chunk) {
                int n = (int) Math.min(chunk, spanEnd - at);
                copyChunk(source, target, at, n, buf);
                done += n;
                target.rebuildDone = done;
                if (engine.config.progress() != null) {
                    engine.config.progress().accept(new RebuildProgress(target.id, done, total, delta));
                }
                if (throttled) {
                    throttle(done, t0);
                }
            }
            r = end - 1;
        }
        return done;
    }

    private void copyChunk(Member source, Member target, long at, int n, ByteBuffer buf) throws IOException {
        engine.checkOpen("rebuild");
        try (RangeLocks.Lease lease = engine.ranges.acquire(at, n)) {
            engine.checkFenced("rebuild");
            // checked holding the range: a live write to this chunk that failed on the source
            // drops it before releasing the range, so the source still holds every write here
            if (target.state != ReplicaState.REBUILDING && target.state != ReplicaState.IN_SYNC) {
                throw new IOException("target " + target.id + " dropped out during the rebuild: " + target.reason);
            }
            if (source.state != ReplicaState.IN_SYNC) {
                throw new IOException("source " + source.id + " dropped out during the rebuild: " + source.reason);
            }
            // through the fan-out, bounded by the write timeout: a hung source must not hold the range
            java.util.concurrent.atomic.AtomicReference<List<Extent>> map =
                    new java.util.concurrent.atomic.AtomicReference<>();
            List<FanOut.Failure> failed = engine.io.run(List.of(source), d -> map.set(d.extents(at, n)));
            List<Extent> extents = failed.isEmpty() && map.get() != null ? map.get()
                    : List.of(new Extent(at, n, Extent.Type.DATA));
            for (Extent e : extents) {
                int len = (int) e.length();
                int off = (int) (e.offset() - at);
                if (e.type().readsAsZeros()) {
                    run(target, "write-zeroes", d -> d.writeZeroes(e.offset(), len, true));
                } else {
                    ByteBuffer slice = buf.clear().slice(off, len);
                    run(source, "read", d -> d.read(slice.duplicate(), e.offset()));
                    run(target, "write", d -> d.write(slice.duplicate(), e.offset()));
                }
            }
        }
    }

    private void run(Member m, String what, FanOut.Action action) throws IOException {
        List<FanOut.Failure> failed = engine.io.run(List.of(m), action);
        if (!failed.isEmpty()) {
            Throwable t = failed.getFirst().error();
            throw new IOException("rebuild " + what + " on " + m.id + " failed: " + FanOut.describe(t), t);
        }
    }

    /**
     * Sleeps until {@code done} bytes are due at the configured rate since {@code t0}: after the
     * last chunk the copy has taken at least {@code total / rate} seconds.
     */
    private void throttle(long done, long t0) throws InterruptedIOException {
        long rate = engine.config.rebuildBytesPerSecond();
        if (rate <= 0) {
            return;
        }
        Config.Pacer pacer = engine.config.pacer();
        long dueNanos = (long) Math.ceil(done * 1e9 / rate);
        long ahead = dueNanos - (pacer.nanoTime() - t0);
        if (ahead > 0) {
            try {
                pacer.sleep(ahead);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("rebuild interrupted while throttled");
            }
        }
    }

    private Member pickSource(Member target) throws IOException {
        for (Member m : engine.readOrder()) {
            if (m != target && m.state == ReplicaState.IN_SYNC && m.device != null) {
                return m;
            }
        }
        throw new IOException(engine.name + ": no in-sync replica to rebuild " + target.id + " from: "
                + engine.describeStates());
    }

    /** Gives the target a fresh session (connector) once its old requests drained. */
    private void reattach(Member target) throws IOException {
        long deadline = System.nanoTime() + engine.writeTimeout().toNanos() * 2;
        while (target.inflight.get() > 0) {
            if (System.nanoTime() > deadline) {
                throw new IOException(engine.name + ": replica " + target.id + " still has " + target.inflight.get()
                        + " request(s) in flight from before it dropped out; rebuild it after they end or replace it");
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted waiting for " + target.id + " to drain");
            }
        }
        ReplicaConnector c = target.connector;
        if (c != null) {
            Device old = target.device;
            if (old != null) {
                // before the fresh claim: the old session must never reconnect, re-claim (which
                // would retire the fresh one) or replay its journal over copied regions
                Sessions.abandon(old, "superseded by a fresh session for a rebuild", engine.executor);
            }
            Device fresh = c.connect(engine.config.term(), engine.config.writer());
            if (fresh.size() - ReplicaHeader.AREA != engine.dataSize) {
                Engine.closeQuietly(fresh);
                throw new IOException(engine.name + ": replica " + target.where() + " has " + fresh.size()
                        + " bytes, the set needs " + (engine.dataSize + ReplicaHeader.AREA));
            }
            engine.membership.lock();
            try {
                target.device = fresh;
            } finally {
                engine.membership.unlock();
            }
        }
        if (target.device == null) {
            throw new IOException(engine.name + ": replica " + target.id + " has no device; replace it");
        }
    }

    private void finish(Member target) throws IOException {
        run(target, "sync", Device::sync);
        engine.membership.lock();
        try {
            if (target.state != ReplicaState.REBUILDING) {
                throw new IOException("target " + target.id + " dropped out at the end of the rebuild: "
                        + target.reason);
            }
            ReplicaHeader header = engine.state.header(engine.dirty.snapshot());
            try {
                run(target, "header write", header::write);
            } catch (IOException e) {
                // it may still land with the current generation: move the in-sync replicas past it
                engine.state.dropOut(List.of(new FanOut.Failure(target, e)), "rebuild header write on " + target.id);
                throw e;
            }
            target.headerGeneration = engine.generation();
            target.needsFull = false;
            target.ownRegions = null;
            target.state = ReplicaState.IN_SYNC;
            target.reason = "";
            engine.state.commitState();
        } finally {
            engine.membership.unlock();
        }
    }

    private void abort(Member target, Throwable e) {
        engine.membership.lock();
        try {
            if (target.state != ReplicaState.OUT_OF_SYNC) {
                target.state = ReplicaState.OUT_OF_SYNC;
                target.reason = "rebuild failed: " + FanOut.describe(e);
                try {
                    engine.state.commitState();
                } catch (IOException ce) {
                    e.addSuppressed(ce);
                }
            }
        } finally {
            engine.membership.unlock();
        }
    }
}

package dev.volumes.pool;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Device} view of one volume, snapshot or clone. Thread-safe; many handles may be
 * open on one volume. Reads of never-written ranges return zeros; a write is visible on return
 * and durable after {@link #sync()} (which commits the whole pool) or on return with
 * {@link WriteFlag#FUA} (also a pool commit, so FUA is not advertised as cheaper). Snapshots
 * refuse every modification with {@link ReadOnlyDeviceException}. Closing the handle does not
 * sync; closing the pool closes every handle.
 */
final class VolumeDevice implements Device {

    private final Pool pool;
    private final Engine engine;
    private final DataPath data;
    private final Volume volume;
    private final Capabilities capabilities;
    private volatile boolean closed;

    VolumeDevice(Pool pool, Engine engine, DataPath data, Volume volume) {
        this.pool = pool;
        this.engine = engine;
        this.data = data;
        this.volume = volume;
        Capabilities c = Capabilities.of(Capability.EXTENTS);
        if (readOnly()) {
            c = c.with(Capability.READ_ONLY);
        } else {
            c = c.with(Capability.DISCARD).with(Capability.DISCARD_READS_ZEROES).with(Capability.WRITE_ZEROES)
                    .with(Capability.WRITE_ZEROES_UNMAP).with(Capability.RESIZE);
        }
        if (engine.device.capabilities().has(Capability.VOLATILE)) {
            c = c.with(Capability.VOLATILE);
        }
        this.capabilities = c;
        volume.handles.incrementAndGet(); // the caller holds the metadata lock (delete checks it)
    }

    /** Snapshots are read-only, and so is every volume of a pool on a read-only backing. */
    private boolean readOnly() {
        return volume.kind.readOnly() || engine.readOnly;
    }

    @Override
    public String name() {
        return volume.name;
    }

    @Override
    public long size() throws IOException {
        ensureOpen("size");
        return volume.size;
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public BlockSizes blockSizes() {
        return new BlockSizes(1, engine.blockSize, 32 << 20);
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        ensureOpen("read");
        Bounds.checkRange(this, "read", offset, dst.remaining(), volume.size);
        if (dst.remaining() > 0) {
            data.read(volume, dst, offset);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        ensureOpen("write");
        if (readOnly()) {
            throw new ReadOnlyDeviceException(volume.name, "write");
        }
        Bounds.checkRange(this, "write", offset, src.remaining(), volume.size);
        if (src.remaining() > 0) {
            data.write(volume, src, offset);
        }
        if (flag == WriteFlag.FUA) {
            sync();
        }
    }

    @Override
    public void sync() throws IOException {
        ensureOpen("sync");
        pool.sync();
    }

    /**
     * A map operation, not a write of zero buffers. With {@code mayUnmap}: unmaps every fully
     * covered block (its space returns to the pool once the freeing commit is durable) and writes
     * zeros into partially covered blocks that hold data. Without: every block the range touches
     * becomes a ZEROED entry owned by this volume alone (a block it owns is kept, a hole or a
     * shared block gets a new block that is never written), so {@link #extents} reports the
     * range as ZERO; partially covered blocks holding data get zeros written. Either way the
     * range reads as zeros.
     *
     * <p>A later write into a ZEROED block lands in place, with no new data block, if at that
     * time the block and every map node above it are owned by this volume alone and not pinned.
     * Right after this call that holds for every block the call allocated; a block it kept is
     * pinned if a snapshot or clone that shared it (or a map node above it) was deleted or copied
     * away since the second-to-last commit, and a write into it then takes a new block until two
     * commits ({@link #sync()}) have passed. A snapshot or clone taken later shares the blocks
     * again (copy-on-write). Clearing the ZEROED bit is a map change that may need map nodes. So
     * on a completely full pool a write into a just-zeroed range can still throw
     * {@link dev.volumes.device.NoSpaceException} (whole, changing nothing).
     *
     * <p>The whole range is planned and reserved at once: on a full pool the call either
     * completes or throws {@link dev.volumes.device.NoSpaceException} having changed nothing
     * (unmapping may use the pool's space-freeing reserve; allocating may not). It is then
     * applied in bounded steps so that other volumes' I/O proceeds meanwhile; reads, writes,
     * snapshots and clones of this volume wait for the whole call.
     */
    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        ensureOpen("write-zeroes");
        if (readOnly()) {
            throw new ReadOnlyDeviceException(volume.name, "write-zeroes");
        }
        Bounds.checkRange(this, "write-zeroes", offset, length, volume.size);
        if (length == 0) {
            return;
        }
        data.writeZeroes(volume, offset, length, mayUnmap);
    }

    /** As {@code writeZeroes(offset, length, true)}: the range reads as zeros afterwards. */
    @Override
    public void discard(long offset, long length) throws IOException {
        ensureOpen("discard");
        if (readOnly()) {
            throw new ReadOnlyDeviceException(volume.name, "discard");
        }
        Bounds.checkRange(this, "discard", offset, length, volume.size);
        data.unmap(volume, offset, length, "discard");
    }

    /** Online resize, as {@link Pool#resize}; snapshots refuse with {@link ReadOnlyDeviceException}. */
    @Override
    public void resize(long newSize) throws IOException {
        ensureOpen("resize");
        if (readOnly()) {
            throw new ReadOnlyDeviceException(volume.name, "resize");
        }
        pool.resize(volume, newSize);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        ensureOpen("extents");
        Bounds.checkRange(this, "extents", offset, length, volume.size);
        List<Extent> out = new ArrayList<>();
        if (length == 0) {
            return out;
        }
        engine.meta.readLock().lock();
        try {
            engine.edits.extents(volume, offset, offset + length, out);
        } finally {
            engine.meta.readLock().unlock();
        }
        return out;
    }

    @Override
    public void close() {
        if (!closed) {
            synchronized (this) {
                if (!closed) {
                    closed = true;
                    volume.handles.decrementAndGet();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "VolumeDevice[" + volume.name + ", " + volume.kind + ", " + volume.size + " bytes]";
    }

    private void ensureOpen(String operation) throws DeviceClosedException {
        if (closed || engine.closed()) {
            throw new DeviceClosedException(volume.name, operation);
        }
    }
}

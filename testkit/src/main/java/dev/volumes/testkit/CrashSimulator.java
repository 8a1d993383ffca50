package dev.volumes.testkit;

import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A {@link Device} wrapper that implements the disk model of the Device contract exactly, so a
 * layer's durability claims can be tested by cutting the power at any point.
 *
 * <h2>Model</h2>
 * <ul>
 *   <li><b>Running view.</b> Every write goes straight to the wrapped <em>disk</em>; reads through
 *       the simulator (and of the disk) see every write that returned.</li>
 *   <li><b>Durable view.</b> What survives a crash: the disk's content when it was wrapped or at
 *       the last completed {@link #sync()}, plus every returned {@link WriteFlag#FUA} write.</li>
 *   <li><b>Crash.</b> {@link #crash()} leaves the disk holding the durable view with a random
 *       subset of the writes issued since the last sync applied on top, in random order (if
 *       {@link Options#reorder()}), each kept write possibly torn: only some of its sectors land.
 *       Sectors ({@link Options#sectorSize()}, 512 bytes by default) are atomic: each sector ends
 *       up holding its durable image or the exact image it had right after one of the pending
 *       writes to it. A sub-sector write is recorded as the whole sector it produced (as a real
 *       read-modify-write hands it to the drive). No other data is ever invented.</li>
 *   <li><b>FUA.</b> A returned FUA write makes its sectors durable with the images they hold on
 *       return; earlier pending writes to those sectors can no longer land over them.</li>
 *   <li><b>Write-zeroes</b> is a pending write of zeros. <b>Discard</b> is a pending write of
 *       zeros if the disk has {@link Capability#DISCARD_READS_ZEROES}; otherwise it is a pending
 *       write of whatever the disk reads after the discard (so after a crash a discarded sector
 *       holds its old content or the disk's post-discard content, never anything else).</li>
 *   <li><b>Resize</b> is a pending operation too: after a crash the size is the durable size or
 *       the size set by one of the pending resizes. A shrink also zeroes the cut range as a
 *       pending write, so bytes cut off and grown back read as zeros, as a real truncate does.</li>
 *   <li>An operation that throws (the disk failed, or the power was cut) is never pending: the
 *       crash restores the sectors it may have touched to their durable images.</li>
 * </ul>
 *
 * <h2>Use</h2>
 * <pre>{@code
 * String test = "PoolCrashTest#randomWorkload";
 * long seed = Seeds.forTest(test) + iteration;
 * MemoryDevice disk = MemoryDevice.create(64 << 20);        // outlives every crash
 * CrashSimulator sim = CrashSimulator.wrap(disk, seed);
 * Pool pool = Pool.create(sim);  ...  sim.armPowerCut(n);  ... catch (IOException expected) {}
 * CrashReport report = sim.crash();                         // sim is dead now; disk holds the crash state
 * Pool reopened = Pool.open(disk);                          // check it; on failure:
 * fail("after " + report + ": ...\n" + Seeds.reproduceWith(test));
 * }</pre>
 * The seed fully determines the post-crash state for a given single-threaded operation
 * sequence, and {@link Seeds} derives it from the master seed, so the reproduce line replays it.
 *
 * <h2>Threading and costs</h2>
 * Thread-safe. Mutating operations (and {@link #crash()}) take an exclusive lock, reads and
 * extents a shared one, so reads run in parallel with each other but not with writes. The lock
 * is fair, so busy writers cannot starve a {@code crash()} or a sync. A {@code crash()} while
 * other threads are writing is fine: their later calls throw {@link DeviceClosedException}. A sync
 * holds the lock while the disk syncs (allowed: writes concurrent with a sync may or may not be
 * included). Memory: the durable image of every sector touched since the last sync plus the
 * sector images of every pending write, so sync now and then in long workloads. Each write costs
 * an extra read of its sectors before and after.
 *
 * <p>{@link #close()} does <b>not</b> close the disk: the disk outlives crashes and closes, and
 * the test reopens its layer on it. Closing without a crash is a clean detach: the disk keeps the
 * running view.
 */
public final class CrashSimulator extends ForwardingDevice {

    /**
     * How adversarial crashes are.
     *
     * @param keepProbability chance that each pending write lands at all, in [0, 1]
     * @param tearProbability chance that a kept write of two or more sectors lands only partly
     *     (some of its sectors, never all, never none), in [0, 1]
     * @param reorder whether kept writes land in random order (true) or in issue order (false);
     *     with random order an older write to a sector may land over a newer one
     * @param sectorSize the atomic unit in bytes, a power of two in [512, 65536]
     */
    public record Options(double keepProbability, double tearProbability, boolean reorder, int sectorSize) {

        /** Keep half the pending writes, tear a quarter of those, random order, 512-byte sectors. */
        public static final Options DEFAULT = new Options(0.5, 0.25, true, 512);

        public Options {
            if (!(keepProbability >= 0 && keepProbability <= 1)) {
                throw new IllegalArgumentException("keepProbability must be in [0, 1]: " + keepProbability);
            }
            if (!(tearProbability >= 0 && tearProbability <= 1)) {
                throw new IllegalArgumentException("tearProbability must be in [0, 1]: " + tearProbability);
            }
            if (sectorSize < 512 || sectorSize > 65536 || Integer.bitCount(sectorSize) != 1) {
                throw new IllegalArgumentException("sectorSize must be a power of two in [512, 65536]: " + sectorSize);
            }
        }

        /** These options with another keep probability. */
        public Options withKeepProbability(double p) {
            return new Options(p, tearProbability, reorder, sectorSize);
        }

        /** These options with another tear probability. */
        public Options withTearProbability(double p) {
            return new Options(keepProbability, p, reorder, sectorSize);
        }

        /** These options with random (true) or issue (false) landing order. */
        public Options withReorder(boolean r) {
            return new Options(keepProbability, tearProbability, r, sectorSize);
        }

        /** These options with another atomic sector size. */
        public Options withSectorSize(int bytes) {
            return new Options(keepProbability, tearProbability, reorder, bytes);
        }
    }

    private enum State { RUNNING, POWER_LOST, CRASHED, CLOSED }

    private final long seed;
    private final Options options;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);   // fair: crash() and sync() never starve
    private final CrashEpoch epoch;               // guarded by the write lock
    private long mutations;                       // guarded by the write lock
    private long cutCountdown;                    // guarded by the write lock; 0 = not armed
    private volatile State state = State.RUNNING;
    private volatile String powerLossDetail = "";

    private CrashSimulator(Device disk, long seed, Options options) {
        super(disk);
        if (options == null) {
            throw new IllegalArgumentException("crash simulator options are null");
        }
        this.seed = seed;
        this.options = options;
        try {
            this.epoch = new CrashEpoch(options.sectorSize(), disk.size());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot wrap '" + disk.name() + "' in a crash simulator: " + e.getMessage(), e);
        }
    }

    /**
     * Wraps {@code disk} with {@link Options#DEFAULT}. The disk's current content and size are
     * taken as durable.
     *
     * @throws IllegalArgumentException if {@code disk} is null
     * @throws UncheckedIOException if the disk's size cannot be read (e.g. it is closed)
     */
    public static CrashSimulator wrap(Device disk, long seed) {
        return new CrashSimulator(disk, seed, Options.DEFAULT);
    }

    /** Wraps {@code disk} with the given options; see {@link #wrap(Device, long)}. */
    public static CrashSimulator wrap(Device disk, long seed, Options options) {
        return new CrashSimulator(disk, seed, options);
    }

    /** The seed that determines the post-crash state. */
    public long seed() {
        return seed;
    }

    /** The options this simulator crashes with. */
    public Options options() {
        return options;
    }

    /**
     * Arms a power cut: the {@code operations}-th further mutating call (write, FUA write,
     * write-zeroes, discard, sync or resize; counted on entry, whatever its outcome would have
     * been) throws {@code IOException("simulated power loss ...")} without reaching the disk, and
     * so does every later call, reads included, until {@link #crash()}. {@code armPowerCut(1)}
     * cuts the very next mutating call; {@code armPowerCut(0)} cuts the power now. Re-arming
     * replaces the previous count; once the power is cut, arming does nothing.
     *
     * <p>The cut call never lands. No coverage is lost: arming one call later makes the same write
     * pending at the cut, and a pending write may land whole, torn or not at all.
     *
     * @throws IllegalArgumentException if {@code operations} is negative
     * @throws IllegalStateException if the simulator has crashed or was closed
     */
    public void armPowerCut(long operations) {
        if (operations < 0) {
            throw new IllegalArgumentException("armPowerCut: negative operation count " + operations);
        }
        lock.writeLock().lock();
        try {
            if (state == State.CRASHED || state == State.CLOSED) {
                throw new IllegalStateException("armPowerCut on " + this + ": the simulator is " + state);
            }
            if (state == State.POWER_LOST) {
                return;
            }
            if (operations == 0) {
                cutPower("armPowerCut(0)");
            } else {
                cutCountdown = operations;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Whether the power has been cut (by {@link #armPowerCut} or {@link #crash()}). */
    public boolean powerLost() {
        return state != State.RUNNING && state != State.CLOSED;
    }

    /** Mutating operations issued since the last completed sync (not counting FUA writes). */
    public long pendingWrites() {
        lock.readLock().lock();
        try {
            return epoch.pendingCount();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Mutating calls seen so far (the count {@link #armPowerCut} counts). */
    public long mutations() {
        lock.readLock().lock();
        try {
            return mutations;
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Cuts the power now (if it is not cut already) and leaves the disk in a random post-crash
     * state allowed by the model, chosen by the seed, then syncs the disk. Afterwards every call
     * on this simulator throws {@link DeviceClosedException}; reopen the layer under test on the
     * disk. Waits for operations in progress to finish.
     *
     * @return what happened, seed included
     * @throws DeviceClosedException if the simulator already crashed or was closed
     * @throws IOException if the disk failed while being rewritten
     */
    public CrashReport crash() throws IOException {
        lock.writeLock().lock();
        try {
            if (state == State.CRASHED || state == State.CLOSED) {
                throw new DeviceClosedException(name(), "crash");
            }
            if (state == State.RUNNING) {
                powerLossDetail = "by crash() after " + mutations + " mutating calls";
            }
            state = State.CRASHED;
            return epoch.crash(delegate(), seed, options);
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public long size() throws IOException {
        lock.readLock().lock();
        try {
            checkUsable("size");
            return delegate().size();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The disk's capabilities, minus {@link Capability#VOLATILE}: the simulator models a persistent disk. */
    @Override
    public Capabilities capabilities() {
        return delegate().capabilities().without(Capability.VOLATILE);
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        lock.readLock().lock();
        try {
            checkUsable("read");
            delegate().read(dst, offset);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        lock.readLock().lock();
        try {
            checkUsable("extents");
            return delegate().extents(offset, length);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        lock.readLock().lock();
        try {
            checkUsable("prefetch");
            delegate().prefetch(offset, length);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** A pending write: lost, kept or torn at a crash unless a sync completes first. */
    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    /** With {@link WriteFlag#FUA} the written sectors survive any later crash. */
    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        if (flag == null) {
            throw new IllegalArgumentException("write: flag is null");
        }
        boolean fua = flag == WriteFlag.FUA;
        String op = fua ? "FUA write" : "write";
        lock.writeLock().lock();
        try {
            beginMutation(op);
            long length = src.remaining();
            Bounds.checkRange(this, op, offset, length, delegate().size());
            epoch.captureDurable(delegate(), offset, length);
            delegate().write(src, offset, flag);
            if (fua) {
                epoch.recordFua(delegate(), offset, length);
            } else {
                epoch.recordWrite(delegate(), offset, length);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** A pending write of zeros. */
    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        lock.writeLock().lock();
        try {
            beginMutation("write-zeroes");
            Bounds.checkRange(this, "write-zeroes", offset, length, delegate().size());
            epoch.captureDurable(delegate(), offset, length);
            delegate().writeZeroes(offset, length, mayUnmap);
            epoch.recordZeroes(delegate(), offset, length);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** A pending write of zeros, or of the disk's post-discard content; see the class comment. */
    @Override
    public void discard(long offset, long length) throws IOException {
        lock.writeLock().lock();
        try {
            beginMutation("discard");
            Bounds.checkRange(this, "discard", offset, length, delegate().size());
            epoch.captureDurable(delegate(), offset, length);
            delegate().discard(offset, length);
            if (delegate().capabilities().has(Capability.DISCARD_READS_ZEROES)) {
                epoch.recordZeroes(delegate(), offset, length);
            } else {
                epoch.recordWrite(delegate(), offset, length);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Syncs the disk; on return every write that returned before is durable. If the disk's sync
     * fails, nothing becomes durable (the pending writes stay pending) and the failure is thrown.
     */
    @Override
    public void sync() throws IOException {
        lock.writeLock().lock();
        try {
            beginMutation("sync");
            delegate().sync();
            epoch.synced(delegate().size());
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** A pending size change; see the class comment. */
    @Override
    public void resize(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("resize of '" + name() + "' to negative size " + newSize);
        }
        lock.writeLock().lock();
        try {
            beginMutation("resize");
            long old = delegate().size();
            CrashEpoch.Data shrink = null;
            if (newSize < old && delegate().capabilities().has(Capability.RESIZE)) {
                shrink = epoch.prepareShrink(delegate(), newSize, old);
            }
            delegate().resize(newSize);
            epoch.recordResize(newSize, shrink);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Detaches the simulator; later calls throw {@link DeviceClosedException}. Does <b>not</b>
     * close or sync the disk, which keeps the running view. Idempotent.
     */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (state == State.RUNNING || state == State.POWER_LOST) {
                state = State.CLOSED;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "CrashSimulator[disk=" + delegate() + ", seed=0x" + Long.toHexString(seed) + ", state="
                + state + (powerLost() ? " " + powerLossDetail : "") + ", " + options + "]";
    }

    private void beginMutation(String op) throws IOException {
        checkUsable(op);
        mutations++;
        if (cutCountdown > 0 && --cutCountdown == 0) {
            cutPower(op + " (mutating call #" + mutations + ")");
            throw powerLoss(op);
        }
    }

    private void cutPower(String where) {
        powerLossDetail = "at " + where;
        state = State.POWER_LOST;
    }

    private void checkUsable(String op) throws IOException {
        switch (state) {
            case RUNNING -> { }
            case POWER_LOST -> throw powerLoss(op);
            case CRASHED, CLOSED -> throw new DeviceClosedException(name(), op);
        }
    }

    private IOException powerLoss(String op) {
        return new IOException("simulated power loss: " + op + " on '" + name() + "' refused; power was cut "
                + powerLossDetail + " (crash simulator seed 0x" + Long.toHexString(seed) + ")");
    }
}

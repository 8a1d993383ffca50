package dev.volumes.testkit;

import dev.volumes.device.Bounds;
import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A {@link Device} wrapper that makes chosen operations fail, wait or hang, to test how a layer
 * handles a misbehaving device:
 * <pre>{@code
 * FaultInjector faults = FaultInjector.wrap(device);
 * faults.on(Op.WRITE).after(3).fail(Fault.EIO);                 // every write after the 3rd
 * faults.on(Op.SYNC).nth(2).fail(Fault.NO_SPACE);               // only the 2nd sync
 * faults.on(Op.READ).when(r -> r.offset() >= 4096).delay(Duration.ofMillis(5));
 * FaultRule hang = faults.on(Op.WRITE, Op.SYNC).withProbability(0.01).hang();
 * ...  hang.release();  faults.clearRules();
 * }</pre>
 *
 * <h2>Rules</h2>
 * A rule is built with {@link #on}/{@link #onAny()} and added when its action ({@code fail},
 * {@code failAfterApplying}, {@code delay}, {@code hang}) is chosen. Every call is checked against
 * the rules in the order they were added. A rule <em>sees</em> a call if the operation is one of
 * its ops and its predicate (if any) accepts the {@link Request}; its count conditions refer to
 * the calls it has seen since it was added ({@code nth(2)}: the second such call). A seen call
 * that passes the count condition, the probability and the {@code times} limit <em>fires</em>
 * the rule: delays and hangs act and the check goes on with the next rule; the first failing rule
 * throws, and the rules after it do not see that call. Faults are injected before the call reaches the device (nothing changes), except
 * {@code failAfterApplying}, which lets the call complete and then throws (a lost acknowledgement).
 *
 * <h2>Threading</h2>
 * Thread-safe: rules may be added, removed and released while calls are running; counters are
 * atomic. Probability draws come from one seeded generator per rule, so a single-threaded call
 * sequence fires the same way for the same seed. A hung call blocks until its rule is released
 * or removed, {@link #releaseHangs()} or {@link #close()} is called, or its thread is interrupted
 * (then it throws {@link InterruptedIOException} with the interrupt flag set); once released it
 * proceeds normally.
 *
 * <p>{@link #close()} closes the wrapped device and then releases every hang.
 */
public final class FaultInjector extends ForwardingDevice {

    /** The operations rules can target. Writes with and without FUA are both {@link #WRITE}. */
    public enum Op { READ, WRITE, SYNC, WRITE_ZEROES, DISCARD, PREFETCH, EXTENTS, RESIZE, SIZE }

    /** Canned failures. */
    public enum Fault {
        /** A plain {@link IOException} "injected EIO ..." (an I/O error). */
        EIO,
        /** A {@link NoSpaceException} (ENOSPC). */
        NO_SPACE;

        /** The exception for {@code request} on the device named {@code deviceName}. */
        public IOException exception(String deviceName, Request request) {
            return switch (this) {
                case EIO -> new IOException("injected EIO: " + request + " on '" + deviceName + "'");
                case NO_SPACE -> new NoSpaceException(deviceName,
                        "injected ENOSPC: no space on '" + deviceName + "' for " + request, null);
            };
        }
    }

    /**
     * One call as rules see it.
     *
     * @param op the operation
     * @param offset first byte of the range; the new size for {@link Op#RESIZE}; 0 for
     *     {@link Op#SYNC} and {@link Op#SIZE}
     * @param length bytes in the range; 0 for operations without one
     * @param flag the write flag for {@link Op#WRITE}, else {@link WriteFlag#NONE}
     */
    public record Request(Op op, long offset, long length, WriteFlag flag) {

        public Request {
            if (op == null || flag == null) {
                throw new IllegalArgumentException("request op and flag must not be null");
            }
        }

        @Override
        public String toString() {
            String what = op.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-')
                    + (flag == WriteFlag.FUA ? " (FUA)" : "");
            return switch (op) {
                case SYNC, SIZE -> what;
                case RESIZE -> what + " to " + offset + " bytes";
                default -> what + " of " + length + " bytes at offset " + offset;
            };
        }
    }

    private final long seed;
    private final CopyOnWriteArrayList<FaultRule> rules = new CopyOnWriteArrayList<>();
    private final AtomicLongArray calls = new AtomicLongArray(Op.values().length);
    private final ReentrantLock hangLock = new ReentrantLock();
    private final Condition hangChanged = hangLock.newCondition();
    private int hung;            // guarded by hangLock
    private long rulesCreated;   // guarded by rules' monitor

    private FaultInjector(Device device, long seed) {
        super(device);
        this.seed = seed;
    }

    /** Wraps {@code device}; probability rules draw from seed 0. */
    public static FaultInjector wrap(Device device) {
        return new FaultInjector(device, 0);
    }

    /** Wraps {@code device}; probability rules draw from generators derived from {@code seed}. */
    public static FaultInjector wrap(Device device, long seed) {
        return new FaultInjector(device, seed);
    }

    /** Starts a rule for calls of the given operations. */
    public FaultRule.Builder on(Op op, Op... more) {
        if (op == null) {
            throw new IllegalArgumentException("fault rule op is null");
        }
        EnumSet<Op> ops = EnumSet.of(op, more);
        return new FaultRule.Builder(this, ops);
    }

    /** Starts a rule for calls of every operation. */
    public FaultRule.Builder onAny() {
        return new FaultRule.Builder(this, EnumSet.allOf(Op.class));
    }

    /** How many calls of {@code op} this injector has seen (failed and hung ones included). */
    public long calls(Op op) {
        return calls.get(op.ordinal());
    }

    /** The rules currently active, in checking order. */
    public List<FaultRule> rules() {
        return List.copyOf(rules);
    }

    /** Removes every rule and releases every hung call. */
    public void clearRules() {
        for (FaultRule rule : rules) {
            rule.remove();
        }
    }

    /** Releases every call hung now or later by the current rules (the rules stay active otherwise). */
    public void releaseHangs() {
        for (FaultRule rule : rules) {
            rule.release();
        }
    }

    /** Calls currently hanging. */
    public int hungCalls() {
        hangLock.lock();
        try {
            return hung;
        } finally {
            hangLock.unlock();
        }
    }

    /**
     * Waits until at least {@code count} calls hang, for at most {@code timeout}.
     *
     * @return whether they do
     * @throws InterruptedException if interrupted while waiting
     */
    public boolean awaitHung(int count, Duration timeout) throws InterruptedException {
        long nanos = timeout.toNanos();
        hangLock.lock();
        try {
            while (hung < count) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = hangChanged.awaitNanos(nanos);
            }
            return true;
        } finally {
            hangLock.unlock();
        }
    }

    @Override
    public long size() throws IOException {
        Request r = new Request(Op.SIZE, 0, 0, WriteFlag.NONE);
        IOException after = before(r);
        long size = delegate().size();
        return afterwards(after, size);
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        IOException after = before(new Request(Op.READ, offset, dst.remaining(), WriteFlag.NONE));
        delegate().read(dst, offset);
        afterwards(after, null);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Bounds.checkBuffer(src, "write");
        IOException after = before(new Request(Op.WRITE, offset, src.remaining(), WriteFlag.NONE));
        delegate().write(src, offset);
        afterwards(after, null);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        if (flag == null) {
            throw new IllegalArgumentException("write: flag is null");
        }
        IOException after = before(new Request(Op.WRITE, offset, src.remaining(), flag));
        delegate().write(src, offset, flag);
        afterwards(after, null);
    }

    @Override
    public void sync() throws IOException {
        IOException after = before(new Request(Op.SYNC, 0, 0, WriteFlag.NONE));
        delegate().sync();
        afterwards(after, null);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        IOException after = before(new Request(Op.WRITE_ZEROES, offset, length, WriteFlag.NONE));
        delegate().writeZeroes(offset, length, mayUnmap);
        afterwards(after, null);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        IOException after = before(new Request(Op.DISCARD, offset, length, WriteFlag.NONE));
        delegate().discard(offset, length);
        afterwards(after, null);
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        IOException after = before(new Request(Op.PREFETCH, offset, length, WriteFlag.NONE));
        delegate().prefetch(offset, length);
        afterwards(after, null);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        IOException after = before(new Request(Op.EXTENTS, offset, length, WriteFlag.NONE));
        List<Extent> extents = delegate().extents(offset, length);
        return afterwards(after, extents);
    }

    @Override
    public void resize(long newSize) throws IOException {
        IOException after = before(new Request(Op.RESIZE, newSize, 0, WriteFlag.NONE));
        delegate().resize(newSize);
        afterwards(after, null);
    }

    /**
     * Closes the wrapped device, then releases every hang (so released calls meet a closed
     * device and throw {@link dev.volumes.device.DeviceClosedException}).
     */
    @Override
    public void close() throws IOException {
        try {
            delegate().close();
        } finally {
            releaseHangs();
        }
    }

    @Override
    public String toString() {
        return "FaultInjector[" + delegate() + ", seed=0x" + Long.toHexString(seed) + ", rules=" + rules + "]";
    }

    /** Adds a built rule; called by {@link FaultRule.Builder}. */
    FaultRule add(FaultRule.Builder builder) {
        synchronized (rules) {
            FaultRule rule = new FaultRule(this, builder, seed + 0x9E3779B97F4A7C15L * ++rulesCreated);
            rules.add(rule);
            return rule;
        }
    }

    void remove(FaultRule rule) {
        rules.remove(rule);
    }

    /**
     * Counts the call and applies the rules that fire: delays and hangs here, a failure by
     * throwing. Returns the exception a fail-after-applying rule wants thrown once the call
     * completed, or null.
     */
    private IOException before(Request request) throws IOException {
        calls.incrementAndGet(request.op().ordinal());
        IOException later = null;
        for (FaultRule rule : rules) {
            FaultRule.Action action = rule.fire(request);
            if (action == null) {
                continue;
            }
            switch (action) {
                case FAIL -> throw rule.exception(name(), request);
                case FAIL_AFTER -> later = later != null ? later : rule.exception(name(), request);
                case DELAY -> sleep(rule.delay(), request);
                case HANG -> hang(rule, request);
            }
        }
        return later;
    }

    private static <T> T afterwards(IOException after, T result) throws IOException {
        if (after != null) {
            throw after;
        }
        return result;
    }

    private void sleep(Duration delay, Request request) throws InterruptedIOException {
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw interrupted("delayed", request, e);
        }
    }

    private void hang(FaultRule rule, Request request) throws InterruptedIOException {
        hangLock.lock();
        try {
            hung++;
            hangChanged.signalAll();
        } finally {
            hangLock.unlock();
        }
        try {
            rule.awaitRelease();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw interrupted("hung", request, e);
        } finally {
            hangLock.lock();
            try {
                hung--;
                hangChanged.signalAll();
            } finally {
                hangLock.unlock();
            }
        }
    }

    private InterruptedIOException interrupted(String how, Request request, InterruptedException cause) {
        InterruptedIOException e = new InterruptedIOException(
                "interrupted while " + how + " by fault injection: " + request + " on '" + name() + "'");
        e.initCause(cause);
        return e;
    }
}

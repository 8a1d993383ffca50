package dev.volumes.ha;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The storage fence: a {@link Fencer} that fences term t by opening the write path for t (for
 * example {@code Replication.builder()...term(t).open()}, which makes the replicas refuse every
 * older term), and a {@link Device} that forwards to the path opened for the current term.
 * Without an open term every operation throws {@link NotLeaderException}.
 *
 * <p>Design: {@code fence}/{@code release}/{@code close} are serialized on this object's monitor;
 * I/O reads one volatile field and never takes the monitor, so a slow open never blocks reads of
 * the term still open. A release closes the term's device; operations in flight on it then fail
 * (with the device's closed or fenced error), which is the point. Fencing the term already open
 * is a no-op, so the controller may retry.
 *
 * <p><b>Term failures</b> (the write-failure health rule, docs/ha.md §2): when an operation on the
 * open term's device fails, the engine asks the {@link Opener#writeFailure opener} whether that
 * device can still write at all; if not, it reports the term once to the listeners registered
 * with {@link #watchTermFailures} (the {@link Controller}, which steps down). Failures of a term
 * that is no longer open, refusals ({@link NotLeaderException}) and range errors are not asked
 * about. The controller also polls {@link #writeFailure(long)} while it leads, which asks the
 * opener the same question about the open term without any operation having failed. Thread-safe.
 */
public final class TermEngine implements Device, Fencer {

    /** Opens the write path for a term; must fence older terms before returning. */
    @FunctionalInterface
    public interface Opener {
        /**
         * @throws IOException if the term could not be claimed (e.g. a newer term is promised)
         */
        Device open(long term) throws IOException;

        /**
         * Whether {@code device}, which this opener opened for a term, can still write; asked
         * after an operation on it failed. Returns why it cannot (it failed stop and refuses writes
         * until reopened), or empty if it can (the failure was transient or the caller's). Must be
         * quick and must not change the device. The default says it can (no health rule).
         */
        default Optional<String> writeFailure(Device device) {
            return Optional.empty();
        }
    }

    private record Open(long term, Device device, AtomicBoolean reported) {
        Open(long term, Device device) {
            this(term, device, new AtomicBoolean());
        }
    }

    private static final System.Logger LOG = System.getLogger(TermEngine.class.getName());

    private final String name;
    private final long size;
    private final Capabilities capabilities;
    private final Opener opener;
    private volatile Open open;
    private boolean closed; // guarded by this
    private final List<TermFailureListener> failureListeners = new CopyOnWriteArrayList<>();

    /**
     * @param name the volume's name, for errors
     * @param size the volume size every opened device must have
     * @param capabilities what to advertise (the opened devices' capabilities are not consulted,
     *     so that a server can be set up before the first term opens)
     * @param opener opens the write path for a term
     */
    public TermEngine(String name, long size, Capabilities capabilities, Opener opener) {
        if (name == null || name.isBlank() || size < 0 || capabilities == null || opener == null) {
            throw new IllegalArgumentException("term engine needs a name, a size >= 0, capabilities and an opener");
        }
        this.name = name;
        this.size = size;
        this.capabilities = capabilities;
        this.opener = opener;
    }

    /** The term whose device is open, or 0. */
    public long openTerm() {
        Open o = open;
        return o == null ? 0 : o.term;
    }

    @Override
    public synchronized void fence(long term) throws IOException {
        if (closed) {
            throw new DeviceClosedException(name, "fence term " + term);
        }
        Open current = open;
        if (current != null && current.term == term) {
            return;
        }
        if (current != null && current.term > term) {
            throw new IOException("cannot fence term " + term + " of '" + name + "': term " + current.term
                    + " is already open here");
        }
        if (current != null) {
            open = null;
            closeQuietly(current);
        }
        Device device = opener.open(term);
        long got;
        try {
            got = device.size();
        } catch (IOException e) {
            closeQuietly(new Open(term, device));
            throw e;
        }
        if (got != size) {
            closeQuietly(new Open(term, device));
            throw new IOException("term " + term + " of '" + name + "' opened a device of " + got + " bytes, expected "
                    + size);
        }
        open = new Open(term, device);
    }

    @Override
    public synchronized void release(long term) {
        Open current = open;
        if (current != null && current.term == term) {
            open = null;
            closeQuietly(current);
        }
    }

    private void closeQuietly(Open o) {
        try {
            o.device.close();
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "closing term {0} of {1} failed: {2}", o.term, name, e.toString());
        }
    }

    @Override
    public Coordinator.Subscription watchTermFailures(TermFailureListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener is null");
        }
        failureListeners.add(listener);
        return () -> failureListeners.remove(listener);
    }

    /**
     * Asks the opener whether the device open for {@code term} can still write (the controller's
     * periodic health check); empty if it can, or if {@code term} is not the open one.
     */
    @Override
    public Optional<String> writeFailure(long term) {
        Open o = open;
        if (o == null || o.term != term) {
            return Optional.empty();
        }
        try {
            return opener.writeFailure(o.device);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "asking whether term {0} of {1} can still write failed: {2}", o.term, name,
                    e.toString());
            return Optional.empty();
        }
    }

    private Open current(String operation) throws IOException {
        Open o = open;
        if (o == null) {
            throw new NotLeaderException(name, operation, "no term is open on this node");
        }
        return o;
    }

    /** After {@code failure} of an operation on {@code o}: asks the opener and reports a failed term once. */
    private IOException failed(Open o, IOException failure) {
        if (failure instanceof NotLeaderException || failure instanceof OutOfRangeException || open != o
                || o.reported.get()) {
            return failure;
        }
        Optional<String> why;
        try {
            why = opener.writeFailure(o.device);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "asking whether term {0} of {1} can still write failed: {2}", o.term, name,
                    e.toString());
            return failure;
        }
        if (why.isPresent() && open == o && o.reported.compareAndSet(false, true)) {
            LOG.log(Level.WARNING, "term {0} of {1} can no longer write: {2}", o.term, name, why.get());
            for (TermFailureListener l : failureListeners) {
                try {
                    l.termFailed(o.term, why.get());
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "term failure listener failed", e);
                }
            }
        }
        return failure;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() throws IOException {
        synchronized (this) {
            if (closed) {
                throw new DeviceClosedException(name, "size");
            }
        }
        return size;
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public BlockSizes blockSizes() {
        Open o = open;
        return o == null ? BlockSizes.DEFAULT : o.device.blockSizes();
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Open o = current("read");
        try {
            o.device.read(dst, offset);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        Open o = current("write");
        try {
            o.device.write(src, offset);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Open o = current("write");
        try {
            o.device.write(src, offset, flag);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public void sync() throws IOException {
        Open o = current("sync");
        try {
            o.device.sync();
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        Open o = current("write-zeroes");
        try {
            o.device.writeZeroes(offset, length, mayUnmap);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        Open o = current("discard");
        try {
            o.device.discard(offset, length);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        Open o = current("extents");
        try {
            return o.device.extents(offset, length);
        } catch (IOException e) {
            throw failed(o, e);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        Open current = open;
        open = null;
        if (current != null) {
            closeQuietly(current);
        }
    }

    @Override
    public String toString() {
        return "TermEngine[" + name + ", term " + openTerm() + "]";
    }
}

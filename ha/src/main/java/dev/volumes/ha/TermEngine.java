package dev.volumes.ha;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.List;

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
 * is a no-op, so the controller may retry. Thread-safe.
 */
public final class TermEngine implements Device, Fencer {

    /** Opens the write path for a term; must fence older terms before returning. */
    @FunctionalInterface
    public interface Opener {
        /**
         * @throws IOException if the term could not be claimed (e.g. a newer term is promised)
         */
        Device open(long term) throws IOException;
    }

    private record Open(long term, Device device) {}

    private static final System.Logger LOG = System.getLogger(TermEngine.class.getName());

    private final String name;
    private final long size;
    private final Capabilities capabilities;
    private final Opener opener;
    private volatile Open open;
    private boolean closed; // guarded by this

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

    private Device current(String operation) throws IOException {
        Open o = open;
        if (o == null) {
            throw new NotLeaderException(name, operation, "no term is open on this node");
        }
        return o.device;
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
        current("read").read(dst, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        current("write").write(src, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        current("write").write(src, offset, flag);
    }

    @Override
    public void sync() throws IOException {
        current("sync").sync();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        current("write-zeroes").writeZeroes(offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        current("discard").discard(offset, length);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        return current("extents").extents(offset, length);
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

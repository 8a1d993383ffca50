package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.nbd.NbdDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * An NBD replica session as the engine sees it: every failure that says the session was fenced —
 * a request the server refused because a newer claim superseded the session (its error reply
 * carries the fence's message), or a reconnect refused with a newer term — is thrown as a
 * {@link FencedException} (the original as its cause); everything else passes unchanged, also a
 * request refused because the same writer claimed again with the same term.
 */
final class FencedSessionDevice extends ForwardingDevice {

    private final String where;
    private final long term;
    private final String writer;
    /** Why the engine abandoned this session (null while in use): every call then fails locally. */
    private volatile String abandoned;

    FencedSessionDevice(Device session, String where, long term, String writer) {
        super(session);
        this.where = where;
        this.term = term;
        this.writer = writer;
    }

    /**
     * The engine no longer uses this session ({@link Sessions#abandon}): the NBD client stops at
     * once ({@link NbdDevice#abort}: no reconnect, no journal replay, no re-sent request; waiting
     * requests fail locally) and every later call fails without reaching the client.
     */
    void abandon(String why) {
        abandoned = why;
        if (delegate() instanceof NbdDevice nbd) {
            nbd.abort("replica session " + where + " (term " + term + ", writer " + writer + ") abandoned: " + why);
        }
    }

    private IOException map(IOException e) {
        FencedException f = NbdConnector.asFenced(e, where, term, writer);
        if (f == null || f == e) {
            return e;
        }
        if (f.getCause() == null) {
            f.initCause(e);
        }
        return f;
    }

    private interface Op<T> {
        T run() throws IOException;
    }

    private <T> T call(Op<T> op) throws IOException {
        String why = abandoned;
        if (why != null) {
            throw new IOException("replica session " + where + " (term " + term + ", writer " + writer
                    + ") was abandoned by the engine: " + why);
        }
        try {
            return op.run();
        } catch (FencedException e) {
            throw e;
        } catch (IOException e) {
            throw map(e);
        }
    }

    @Override
    public long size() throws IOException {
        return call(() -> delegate().size());
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        call(() -> {
            delegate().read(dst, offset);
            return null;
        });
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        call(() -> {
            delegate().write(src, offset, flag);
            return null;
        });
    }

    @Override
    public void sync() throws IOException {
        call(() -> {
            delegate().sync();
            return null;
        });
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        call(() -> {
            delegate().writeZeroes(offset, length, mayUnmap);
            return null;
        });
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        call(() -> {
            delegate().discard(offset, length);
            return null;
        });
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        call(() -> {
            delegate().prefetch(offset, length);
            return null;
        });
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        return call(() -> delegate().extents(offset, length));
    }
}

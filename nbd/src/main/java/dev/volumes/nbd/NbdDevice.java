package dev.volumes.nbd;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.UnsupportedDeviceOperationException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A {@link Device} whose bytes live on an NBD server; obtained from {@link NbdClient}.
 *
 * <p>Every operation blocks until the server answered (or the request failed); operations from
 * many threads are multiplexed on the connection(s) by cookie. Reads and writes longer than the
 * server's maximum payload are split and pipelined; requests not aligned to the server's minimum
 * block size are widened (reads) or done as read-modify-write (writes, serialised against other
 * writes so concurrent disjoint writers never clobber each other).
 *
 * <p><b>Errors</b>: the server's errno maps to ENOSPC → {@link NoSpaceException}, EPERM →
 * {@link ReadOnlyDeviceException}, EINVAL/EOVERFLOW → {@link OutOfRangeException}, ESHUTDOWN →
 * {@link DeviceClosedException}, ENOTSUP → {@link UnsupportedDeviceOperationException}, anything
 * else → {@link IOException} naming server, export, operation, offset and length.
 *
 * <p><b>Timeouts and reconnect</b> (docs/nbd.md, "Client"): a request without a reply within the
 * request timeout fails with an {@link IOException} and its connection is closed (the server may
 * be stuck); requests that had no reply when a connection dropped are sent again on a new
 * connection, which is re-established with exponential backoff until the reconnect deadline;
 * after it the device is failed and every call throws an error naming the server and what was
 * pending. A write is reported successful only when the server acknowledged it.
 *
 * <p><b>Durability across a drop</b>: writes the server acknowledged but no completed flush covers
 * yet may be lost if the server restarted. The device keeps them in a bounded replay journal
 * ({@link NbdClient.Builder#replayJournal}, default 64 MiB: a pooled copy per write, overwrites
 * coalesced, FUA writes and flushed data not kept) and re-sends it on a reconnected connection
 * before anything else is sent, so the next {@link #sync()} makes every acknowledged write
 * durable. Only if the journal overflowed (or is disabled) since the last completed flush does a
 * drop fail the device stop for writes: {@link #sync()} and every later modifying call throw an
 * {@link IOException} saying so, until the device is reopened; reads keep working. Drops with
 * nothing unflushed (FUA writes, synced data, reads) are invisible.
 *
 * <p>Thread-safe. {@link #close()} waits for in-flight requests, sends {@code NBD_CMD_DISC} and
 * closes the connections; it does not imply {@link #sync()}.
 */
public final class NbdDevice implements Device {

    /** Longest payload-free request with compact headers (32-bit length), 1 MiB-aligned: < 4 GiB. */
    static final long SPLIT = (1L << 32) - (1L << 20);

    private final NbdClient.Config config;
    private final String name;
    private final String server;
    private final long size;
    private final int flags;
    private final int metaContextId;
    private final BlockSizes blockSizes;
    private final int minBlock;
    private final int maxPayload;
    /** Longest payload-free request: {@link #SPLIT}, or unlimited with extended headers (64-bit lengths). */
    private final long split;
    private final boolean extended;
    private final Capabilities capabilities;
    private final ReplayJournal journal;
    private final Slots slots;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final ReentrantReadWriteLock rmw = new ReentrantReadWriteLock();
    private volatile IOException durabilityLost;
    private volatile boolean closed;

    NbdDevice(NbdClient.Config config, ClientHandshake.Session first) throws IOException {
        this.config = config;
        this.server = config.target().describe();
        this.name = config.describe();
        this.size = first.size();
        this.flags = first.flags();
        this.metaContextId = first.metaContextId();
        int min = Math.max(1, Math.min(first.minBlock(), 65536));
        if (Integer.bitCount(min) != 1) {
            min = 1;
        }
        int max = (int) Math.min(first.maxBlock() & 0xffffffffL, 32L << 20);
        max = Math.max(min, max - max % min);
        int pref = Math.max(min, Math.min(Integer.highestOneBit(Math.max(1, first.preferredBlock())), max));
        if (max < pref) {
            pref = min;
        }
        this.extended = first.extended();
        this.split = extended ? Long.MAX_VALUE : SPLIT;
        this.minBlock = min;
        this.maxPayload = max;
        this.blockSizes = new BlockSizes(min, pref, max);
        this.capabilities = ClientMapping.capabilities(flags, metaContextId >= 0);
        // Without SEND_FLUSH the server has no write cache: an acknowledged write is durable.
        this.journal = new ReplayJournal(has(Wire.TFLAG_SEND_FLUSH) && !capabilities.readOnly()
                ? config.journalBytes() : 0);
        this.slots = new Slots(this, config, first);
    }

    boolean has(int flag) {
        return (flags & flag) != 0;
    }

    String server() {
        return server;
    }

    /** Whether the connections use extended headers (every reconnect must negotiate the same). */
    boolean extendedHeaders() {
        return extended;
    }

    long exportSize() {
        return size;
    }

    /** How many connections are open (1 unless the server advertised CAN_MULTI_CONN). */
    int connectionCount() {
        return slots.count();
    }

    /** Connections re-established after drops since open (diagnostics). */
    long reconnects() {
        return slots.reconnects();
    }

    /** Requests sent again after their connection dropped (diagnostics). */
    long resentRequests() {
        return slots.resent();
    }

    /** The negotiated session of connection 0 (for tests and diagnostics). */
    ClientHandshake.Session session() {
        return slots.sessionOfFirst();
    }

    /** The replay journal (for {@link Slots}, tests and diagnostics). */
    ReplayJournal journal() {
        return journal;
    }

    /** Journal replays after reconnects since open (diagnostics). */
    long replays() {
        return slots.replays();
    }

    /** Whether a reconnect is replaying the journal right now (new requests wait). */
    boolean replaying() {
        return slots.gateClosed();
    }

    /** Tests only: connection {@code i} drops as if the network failed (the device reconnects it on next use). */
    void dropConnectionForTest(int i) {
        slots.abortForTest(i);
    }

    /** Tests only: {@code hook} runs on a reader thread whose connection dropped, before the drop is handled. */
    void beforeDropForTest(Runnable hook) {
        slots.beforeDropForTest = hook;
    }

    /** Requests re-sent from the journal since open (diagnostics). */
    long replayedRequests() {
        return slots.replayedRequests();
    }

    // ------------------------------------------------------------------ listener hooks (reader thread)

    void acknowledged(ClientWire c, ClientWire.Pending p) {
        long lost = journal.acknowledged(p.type, p.flags, p.offset, p.length, p.copy);
        if (lost > 0) {
            c.lastLostSeq = lost;
        }
    }

    void dropped(ClientWire c, IOException cause) {
        if (closed || !has(Wire.TFLAG_SEND_FLUSH)
                || (c.lastLostSeq <= journal.flushedSeq() && !journal.droppedSince())) {
            return; // nothing unflushed, or all of it is in the journal and will be replayed
        }
        loseDurability(new IOException("nbd server " + server + " export '" + config.target().exportName()
                + "': the connection dropped (" + cause.getMessage() + ") while writes it had acknowledged were"
                + " not yet flushed and not all of them are in the replay journal (" + (journal.enabled()
                        ? "it overflowed its " + config.journalBytes() + " bytes since the last flush" : "it is disabled")
                + "); the server may have lost them (if it restarted), so durability is unknown: writes and sync"
                + " fail until the device is reopened", cause));
    }

    /** A replayed request got an error: the acknowledged write it carried cannot be re-established. */
    void replayFailed(ReplayJournal.Entry e, ClientWire.Reply reply) {
        Request r = new Request(e.type() == Wire.CMD_WRITE ? "replayed write" : "replayed write-zeroes", e.type(),
                e.flags(), e.offset(), e.length(), null, null, null);
        loseDurability(new IOException(describe(r) + " failed after a reconnect: " + Errors.name(reply.errno())
                + (reply.message() == null || reply.message().isEmpty() ? "" : " (" + reply.message() + ")")
                + "; an acknowledged write may be lost, so durability is unknown: writes and sync fail until the"
                + " device is reopened"));
    }

    private void loseDurability(IOException why) {
        synchronized (this) {
            if (durabilityLost == null) {
                durabilityLost = why;
            }
        }
    }

    // ------------------------------------------------------------------ Device

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
        return capabilities;
    }

    @Override
    public BlockSizes blockSizes() {
        return blockSizes;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        Bounds.checkBuffer(dst, "read");
        int length = dst.remaining();
        Bounds.checkRange(this, "read", offset, length, size);
        enter("read");
        try {
            long start = alignDown(offset);
            long end = alignUp(offset + length);
            if (start == offset && end == offset + length) {
                transfer(Wire.CMD_READ, 0, offset, dst.slice(), false);
            } else {
                ByteBuffer wide = ByteBuffer.allocate((int) (end - start));
                transfer(Wire.CMD_READ, 0, start, wide, false);
                dst.slice().put(wide.slice((int) (offset - start), length));
            }
            dst.position(dst.limit());
        } finally {
            leave();
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        Bounds.checkBuffer(src, "write");
        int length = src.remaining();
        Bounds.checkRange(this, "write", offset, length, size);
        checkWritable("write of " + length + " bytes at offset " + offset);
        boolean fua = flag == WriteFlag.FUA;
        boolean nativeFua = fua && has(Wire.TFLAG_SEND_FUA);
        enter("write");
        try {
            writeAligned(src.slice(), offset, nativeFua ? Wire.CMD_FLAG_FUA : 0);
            src.position(src.limit());
        } finally {
            leave();
        }
        if (fua && !nativeFua) {
            sync();
        }
    }

    private void writeAligned(ByteBuffer src, long offset, int cmdFlags) throws IOException {
        int length = src.remaining();
        if (minBlock == 1 || (offset % minBlock == 0 && length % minBlock == 0)) {
            if (minBlock == 1) {
                transfer(Wire.CMD_WRITE, cmdFlags, offset, src, true);
                return;
            }
            rmw.readLock().lock();
            try {
                transfer(Wire.CMD_WRITE, cmdFlags, offset, src, true);
            } finally {
                rmw.readLock().unlock();
            }
            return;
        }
        long start = alignDown(offset);
        long end = alignUp(offset + length);
        rmw.writeLock().lock();
        try {
            ByteBuffer wide = ByteBuffer.allocate((int) (end - start));
            transfer(Wire.CMD_READ, 0, start, wide.duplicate(), false);
            wide.put((int) (offset - start), src, src.position(), length);
            transfer(Wire.CMD_WRITE, cmdFlags, start, wide, true);
        } finally {
            rmw.writeLock().unlock();
        }
    }

    @Override
    public void sync() throws IOException {
        enter("sync");
        try {
            checkDurability("sync");
            if (!has(Wire.TFLAG_SEND_FLUSH)) {
                return; // the server has no write cache to flush
            }
            long covered = journal.flushSending();
            Request r = new Request("flush", Wire.CMD_FLUSH, 0, 0, 0, null, null, null);
            check(r, slots.execute(r));
            journal.flushed(covered);
            checkDurability("sync");
        } finally {
            leave();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        Bounds.checkRange(this, "write-zeroes", offset, length, size);
        checkWritable("write-zeroes of " + length + " bytes at offset " + offset);
        if (length == 0) {
            enter("write-zeroes");
            leave();
            return;
        }
        if (!has(Wire.TFLAG_SEND_WRITE_ZEROES)) {
            Device.super.writeZeroes(offset, length, mayUnmap);
            return;
        }
        enter("write-zeroes");
        try {
            int f = mayUnmap ? 0 : Wire.CMD_FLAG_NO_HOLE;
            long start = alignUp(offset);
            long end = alignDown(offset + length);
            if (start >= end) {
                writeAligned(ByteBuffer.allocate((int) length), offset, 0); // small and unaligned
            } else {
                if (start > offset) {
                    writeAligned(ByteBuffer.allocate((int) (start - offset)), offset, 0);
                }
                if (end < offset + length) {
                    writeAligned(ByteBuffer.allocate((int) (offset + length - end)), end, 0);
                }
                ranged("write-zeroes", Wire.CMD_WRITE_ZEROES, f, start, end);
            }
        } finally {
            leave();
        }
    }

    /**
     * Zeroes the range only if the server can do that faster than writing zeros: sends
     * {@code NBD_CMD_WRITE_ZEROES} with {@code NBD_CMD_FLAG_FAST_ZERO}, which a server either
     * carries out quickly or refuses at once with ENOTSUP. For callers that have a fallback — as
     * nbdcopy pre-zeroes a destination only when that is cheap, because it will write every block
     * anyway: {@code if (!d.writeZeroesIfFast(0, d.size(), true)) { write all blocks, zeros too }}.
     * {@link #writeZeroes} itself never sends FAST_ZERO: a caller who needs zeros gets them, and a
     * WRITE_ZEROES without payload is never slower on the wire than the zeros it saves sending.
     *
     * @return true if the range now reads as zeros; false if the server does not advertise fast
     *     zeroing ({@code NBD_FLAG_SEND_FAST_ZERO}; nothing is sent), refused it (ENOTSUP), or the
     *     range contains no whole block of the server's minimum size. On false nothing changed —
     *     except that a range longer than one request (4 GiB − 1 MiB, sent one request after the
     *     other) may already read as zeros up to the request that was refused
     * @throws IOException any other failure, mapped as for {@link #writeZeroes}
     */
    public boolean writeZeroesIfFast(long offset, long length, boolean mayUnmap) throws IOException {
        Bounds.checkRange(this, "write-zeroes", offset, length, size);
        checkWritable("fast write-zeroes of " + length + " bytes at offset " + offset);
        if (!has(Wire.TFLAG_SEND_WRITE_ZEROES) || !has(Wire.TFLAG_SEND_FAST_ZERO)) {
            return false;
        }
        long start = alignUp(offset);
        long end = alignDown(offset + length);
        if (start >= end) {
            return length == 0;
        }
        enter("write-zeroes");
        try {
            int f = (mayUnmap ? 0 : Wire.CMD_FLAG_NO_HOLE) | Wire.CMD_FLAG_FAST_ZERO;
            for (long pos = start; pos < end; pos += Math.min(split, end - pos)) { // one at a time: stop at the first refusal
                Request r = new Request("fast write-zeroes", Wire.CMD_WRITE_ZEROES, f, pos, Math.min(split, end - pos),
                        null, null, null);
                ClientWire.Reply reply = slots.execute(r);
                if (reply.errno() == Wire.ENOTSUP) {
                    return false;
                }
                check(r, reply);
            }
            if (start > offset) {
                writeAligned(ByteBuffer.allocate((int) (start - offset)), offset, 0);
            }
            if (end < offset + length) {
                writeAligned(ByteBuffer.allocate((int) (offset + length - end)), end, 0);
            }
            return true;
        } finally {
            leave();
        }
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        Bounds.checkRange(this, "discard", offset, length, size);
        checkWritable("discard of " + length + " bytes at offset " + offset);
        enter("discard");
        try {
            if (has(Wire.TFLAG_SEND_TRIM)) {
                ranged("discard", Wire.CMD_TRIM, 0, alignUp(offset), Math.max(alignUp(offset), alignDown(offset + length)));
            }
        } finally {
            leave();
        }
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        Bounds.checkRange(this, "prefetch", offset, length, size);
        enter("prefetch");
        try {
            if (has(Wire.TFLAG_SEND_CACHE)) {
                ranged("prefetch", Wire.CMD_CACHE, 0, alignDown(offset), alignUp(offset + length));
            }
        } finally {
            leave();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        Bounds.checkRange(this, "extents", offset, length, size);
        enter("extents");
        try {
            if (length == 0) {
                return List.of();
            }
            if (metaContextId < 0) {
                return List.of(new Extent(offset, length, Extent.Type.DATA));
            }
            List<Extent> out = new ArrayList<>();
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                long ask = Math.min(end - pos, split);
                Request r = new Request("block status", Wire.CMD_BLOCK_STATUS, 0, pos, ask, null, null, null);
                ClientWire.Reply reply = slots.execute(r);
                check(r, reply);
                long before = pos;
                if (reply.descriptors() != null) {
                    for (long[] d : reply.descriptors()) {
                        long n = Math.min(d[0], end - pos);
                        if (n <= 0) {
                            break;
                        }
                        Extent.append(out, pos, n, ClientMapping.extentType(d[1]));
                        pos += n;
                    }
                }
                if (pos == before) {
                    throw new IOException(describe(r) + ": nbd server " + server + " answered block status without"
                            + " a descriptor for base:allocation");
                }
            }
            return out;
        } finally {
            leave();
        }
    }

    /** NBD resize ({@code NBD_CMD_RESIZE}) is not implemented: always refused. */
    @Override
    public void resize(long newSize) throws IOException {
        checkWritable("resize to " + newSize + " bytes");
        throw new UnsupportedDeviceOperationException(name, "resize", "the NBD client does not implement NBD_CMD_RESIZE");
    }

    /**
     * Stops the device at once, for an owner that abandons it while requests may still be under
     * way (the replica engine when it drops, replaces or re-attaches a replica's session:
     * docs/replication.md §1 "Abandoned sessions"). Afterwards no connection is re-established,
     * nothing is re-sent — neither the replay journal nor requests whose connection dropped —
     * every request waiting for a reply or a connection fails locally with an {@link IOException}
     * naming {@code reason}, and so does every later call. Connections are closed without
     * {@code NBD_CMD_DISC}. A reconnect handshake already under way cannot be taken back (the
     * server may still see its open, e.g. a replica claim) but nothing is sent on it: it is closed
     * as soon as it completes. A request the server had already read may still complete there,
     * as after any dropped connection. Call {@link #close()} afterwards to release the device; it
     * then does not wait for replies. Idempotent; thread-safe; does not block on the server.
     */
    public void abort(String reason) {
        slots.abort(new IOException("nbd server " + server + " export '" + config.target().exportName()
                + "': aborted by its owner: " + reason));
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        slots.beginClose();
        boolean drained = false;
        try {
            drained = lifecycle.writeLock().tryLock(config.requestTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            slots.closeAll(drained);
        } finally {
            journal.close();
            if (drained) {
                lifecycle.writeLock().unlock();
            }
        }
    }

    // ------------------------------------------------------------------ plumbing

    /**
     * One NBD request, for execution and messages. {@code copy}: a WRITE's pooled payload copy
     * (then also {@code payload}) that the replay journal may keep once the server acknowledged it.
     */
    record Request(String what, int type, int flags, long offset, long length, ByteBuffer payload, ByteBuffer dst,
            ReplayJournal.Copy copy) {}

    private void transfer(int type, int cmdFlags, long offset, ByteBuffer buf, boolean write) throws IOException {
        int length = buf.remaining();
        String what = write ? "write" : "read";
        if (length == 0) {
            return;
        }
        // A non-FUA write is sent from a pooled copy the journal keeps once acknowledged (one copy
        // per write; a FUA write is durable when acknowledged and needs none; while the journal has
        // overflowed since the last flush nothing would be kept, so nothing is copied).
        boolean journaled = write && journal.journaling() && (cmdFlags & Wire.CMD_FLAG_FUA) == 0;
        List<Request> parts = new ArrayList<>();
        try {
            for (int done = 0; done < length; done += maxPayload) {
                int n = Math.min(maxPayload, length - done);
                ByteBuffer part = buf.slice(buf.position() + done, n);
                ReplayJournal.Copy copy = journaled ? journal.copy(part) : null;
                parts.add(new Request(what, type, cmdFlags, offset + done, n,
                        write ? (copy != null ? copy.buffer : part) : null, write ? null : part, copy));
            }
            List<ClientWire.Reply> replies = slots.executeAll(parts);
            for (int i = 0; i < parts.size(); i++) {
                check(parts.get(i), replies.get(i));
            }
        } finally {
            for (Request r : parts) {
                journal.release(r.copy()); // unless the journal claimed it
            }
        }
    }

    /**
     * A payload-free command over [start, end): one request with extended headers (a 64-bit
     * length), else pieces below 4 GiB. A server may refuse an effect length above its maximum
     * payload with EOVERFLOW or EINVAL (spec, "Block size constraints"): then the range is sent
     * again in pieces, as with compact headers.
     */
    private void ranged(String what, int type, int cmdFlags, long start, long end) throws IOException {
        if (end - start > SPLIT && split > SPLIT) {
            Request whole = new Request(what, type, cmdFlags, start, end - start, null, null, null);
            ClientWire.Reply reply = slots.execute(whole);
            if (reply.errno() != Wire.EOVERFLOW && reply.errno() != Wire.EINVAL) {
                check(whole, reply);
                return;
            }
        }
        List<Request> parts = new ArrayList<>();
        for (long pos = start; pos < end; pos += SPLIT) {
            parts.add(new Request(what, type, cmdFlags, pos, Math.min(SPLIT, end - pos), null, null, null));
        }
        List<ClientWire.Reply> replies = slots.executeAll(parts);
        for (int i = 0; i < parts.size(); i++) {
            check(parts.get(i), replies.get(i));
        }
    }

    String describe(Request r) {
        return "nbd server " + server + " export '" + config.target().exportName() + "': " + r.what() + " of "
                + r.length() + " bytes at offset " + r.offset();
    }

    private void check(Request r, ClientWire.Reply reply) throws IOException {
        if (reply.errno() != 0) {
            throw ClientMapping.exception(name, describe(r), r.what(), r.offset(), r.length(), reply, size);
        }
    }

    private void checkOpen(String op) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(name, op);
        }
    }

    private void enter(String op) throws IOException {
        checkOpen(op);
        lifecycle.readLock().lock();
        if (closed) {
            lifecycle.readLock().unlock();
            throw new DeviceClosedException(name, op);
        }
    }

    private void leave() {
        lifecycle.readLock().unlock();
    }

    private void checkWritable(String what) throws IOException {
        checkOpen(what);
        if (capabilities.readOnly()) {
            throw new ReadOnlyDeviceException(name, what);
        }
        checkDurability(what);
    }

    private void checkDurability(String what) throws IOException {
        IOException lost = durabilityLost;
        if (lost != null) {
            throw new IOException(what + " refused: " + lost.getMessage(), lost);
        }
    }

    private long alignDown(long v) {
        return v - v % minBlock;
    }

    private long alignUp(long v) {
        long r = v % minBlock;
        return r == 0 ? v : Math.min(size, v + (minBlock - r));
    }
}

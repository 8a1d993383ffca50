package dev.volumes.device;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A fixed-size (resizable where supported), random-access array of bytes: the one abstraction
 * every layer of volumes stores bytes through. Files, memory, pool volumes, S3 buckets, OCI
 * images, NBD clients and replica sets are all Devices, so layers compose freely.
 *
 * <h2>Obligations of every implementation</h2>
 * <ul>
 *   <li><b>Bounds.</b> Every ranged operation checks {@code 0 <= offset} and
 *       {@code offset + length <= size()} before touching anything. A negative offset or length
 *       is a programming error ({@link IllegalArgumentException}); a range past the end (including
 *       one whose end overflows a {@code long}) throws {@link OutOfRangeException}. A device never
 *       returns fewer bytes than asked for: there are no short reads or writes.</li>
 *   <li><b>Blocking.</b> Every operation blocks the calling thread until it is complete or has
 *       failed. Callers are expected to use virtual threads for concurrency.</li>
 *   <li><b>Thread safety.</b> All operations may be called concurrently. Operations on disjoint
 *       ranges proceed in parallel. Concurrent overlapping writes leave, for every 512-byte sector,
 *       the bytes of exactly one of the writes.</li>
 *   <li><b>Durability (the disk model).</b> A write that has returned is visible to every later
 *       read but may still be volatile: a crash may lose, reorder or tear (at 512-byte
 *       granularity) any write not yet covered by a completed {@link #sync()}. Only
 *       {@link #sync()} returning, or a {@link WriteFlag#FUA} write returning, makes a promise.
 *       Layers built on a Device must be correct under exactly this model and no stronger one.</li>
 *   <li><b>Errors.</b> All failures are {@link IOException}s; the device-specific ones are the
 *       subtypes in this package ({@link NoSpaceException}, {@link ReadOnlyDeviceException},
 *       {@link OutOfRangeException}, {@link DeviceClosedException},
 *       {@link UnsupportedDeviceOperationException}, {@link DeviceInUseException}). Anything else
 *       is an I/O error. Messages name the device, the request and the limit.</li>
 *   <li><b>Close.</b> After {@link #close()} every operation except {@code close()} and
 *       {@link #name()} throws {@link DeviceClosedException}.</li>
 * </ul>
 *
 * <p>Optional operations have defaults built from the mandatory ones, so decorators that forward
 * everything lose nothing; {@link #capabilities()} tells which of them are real.
 */
public interface Device extends Closeable {

    /** A short human-readable name used in error messages and logs (a path, a volume name...). */
    String name();

    /**
     * The current size in bytes.
     *
     * @throws DeviceClosedException if the device is closed
     */
    long size() throws IOException;

    /** What this device really supports; see {@link Capability}. Never null. */
    Capabilities capabilities();

    /**
     * Block-size constraints a consumer should honour (advertised by the NBD server). Requests
     * that ignore them still work, only slower, unless the device documents otherwise.
     */
    default BlockSizes blockSizes() {
        return BlockSizes.DEFAULT;
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes starting at {@code offset} into {@code dst},
     * advancing its position to its limit. Never-written ranges read as zeros unless the device
     * documents otherwise.
     *
     * @throws OutOfRangeException if {@code offset + dst.remaining() > size()}
     * @throws DeviceClosedException if the device is closed
     * @throws IOException on any other failure; {@code dst}'s content is then unspecified
     */
    void read(ByteBuffer dst, long offset) throws IOException;

    /**
     * Writes all of {@code src.remaining()} bytes at {@code offset}, advancing {@code src}'s
     * position to its limit. Visible to later reads on return; durable only after a later
     * {@link #sync()} completes.
     *
     * @throws OutOfRangeException if the range extends past {@link #size()}
     * @throws ReadOnlyDeviceException if the device is read-only
     * @throws NoSpaceException if the backing storage cannot hold the write; nothing changed
     * @throws DeviceClosedException if the device is closed
     */
    void write(ByteBuffer src, long offset) throws IOException;

    /**
     * Writes like {@link #write(ByteBuffer, long)}; with {@link WriteFlag#FUA} the written range
     * is durable when this returns (earlier writes are not necessarily). The default writes and
     * then calls {@link #sync()}, which is correct but stronger than needed.
     */
    default void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        write(src, offset);
        if (flag == WriteFlag.FUA) {
            sync();
        }
    }

    /**
     * A barrier: every write that returned before this call began is durable when it returns.
     * Writes concurrent with the call may or may not be included.
     *
     * @throws DeviceClosedException if the device is closed
     * @throws IOException if durability could not be guaranteed; the device may then refuse
     *     further writes until reopened (fail-stop)
     */
    void sync() throws IOException;

    /**
     * Makes {@code [offset, offset + length)} read back as zeros. If {@code mayUnmap} is true the
     * device may deallocate the range (see {@link Capability#WRITE_ZEROES_UNMAP}); if false it
     * keeps it allocated, so later writes there cannot fail for lack of space. The default writes
     * zero-filled buffers.
     */
    default void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        Bounds.checkRange(this, "write-zeroes", offset, length, size());
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(zeros.capacity(), length - done);
            zeros.clear().limit(n);
            write(zeros, offset + done);
            done += n;
        }
    }

    /**
     * Advisory unmap (TRIM): the device may deallocate the range. The content afterwards is
     * unspecified unless {@link Capability#DISCARD_READS_ZEROES} is present. The default checks
     * the range and does nothing.
     */
    default void discard(long offset, long length) throws IOException {
        Bounds.checkRange(this, "discard", offset, length, size());
        if (capabilities().readOnly()) {
            throw new ReadOnlyDeviceException(name(), "discard");
        }
    }

    /**
     * Advisory prefetch (NBD CACHE): the device may load the range into a cache. The default
     * checks the range and does nothing.
     */
    default void prefetch(long offset, long length) throws IOException {
        Bounds.checkRange(this, "prefetch", offset, length, size());
    }

    /**
     * The allocation map of {@code [offset, offset + length)}: a list of extents in ascending
     * order that exactly covers the range, adjacent extents of the same type merged. An extent of
     * type {@link Extent.Type#HOLE} or {@link Extent.Type#ZERO} is a promise that the range reads
     * as zeros; {@link Extent.Type#DATA} promises nothing. The default reports one data extent.
     * An empty range gives an empty list.
     */
    default List<Extent> extents(long offset, long length) throws IOException {
        Bounds.checkRange(this, "extents", offset, length, size());
        return length == 0 ? List.of() : List.of(new Extent(offset, length, Extent.Type.DATA));
    }

    /**
     * Changes the size. Growing exposes a range that reads as zeros; shrinking discards the tail.
     * The new size is durable after the next {@link #sync()}.
     *
     * @throws UnsupportedDeviceOperationException if {@link Capability#RESIZE} is absent
     * @throws NoSpaceException if the backing storage cannot grow
     */
    default void resize(long newSize) throws IOException {
        throw new UnsupportedDeviceOperationException(name(), "resize");
    }

    /**
     * Releases the device. Does <b>not</b> imply {@link #sync()} unless the implementation says
     * so; callers that want durability call {@code sync()} first. Idempotent.
     */
    @Override
    void close() throws IOException;
}

package dev.volumes.testkit;

import dev.volumes.device.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The volatile state of one {@link CrashSimulator} epoch: everything since the last completed
 * sync, and how to turn it into a post-crash disk.
 *
 * <p>Design: the disk always holds the running view. For every sector first touched in this
 * epoch {@link #durable} keeps its durable image (undo data, captured before the first change).
 * {@link #pending} lists, in issue order, every mutating operation as the full images of the
 * sectors it touched, read back from the disk right after the operation (so a sub-sector write
 * is recorded as the whole sector the disk then held, exactly what a real read-modify-write
 * hands to the drive). A FUA write replaces the durable image of its sectors and masks every
 * earlier pending write to them ({@link #fuaSeq}). A crash restores the durable images and then
 * applies a random subset of the pending operations, in random order, each optionally torn.
 *
 * <p>Invariant: every sector whose disk content differs from its durable content is a key of
 * {@link #durable}. Not thread-safe: the simulator's write lock guards every call.
 */
final class CrashEpoch {

    /** A pending operation, in issue order ({@code seq}). */
    sealed interface Pending permits Data, Resize {
        long seq();
    }

    /**
     * A pending change to {@code count} sectors from {@code first}. {@code data} holds all their
     * images; if it is null the body is zeros and {@code head}/{@code tail} (nullable) are the
     * images of the first/last sector.
     */
    record Data(long seq, long first, long count, byte[] data, byte[] head, byte[] tail) implements Pending {}

    /** A pending size change. */
    record Resize(long seq, long newSize) implements Pending {}

    private static final int READ_CHUNK = 1 << 20;

    private final int sector;
    private final byte[] zeroSector;
    private final Map<Long, byte[]> durable = new HashMap<>();
    private final Map<Long, Long> fuaSeq = new HashMap<>();
    private final List<Pending> pending = new ArrayList<>();
    private long seq;
    private long durableSize;
    private long maxSize;

    CrashEpoch(int sectorSize, long durableSize) {
        this.sector = sectorSize;
        this.zeroSector = new byte[sectorSize];
        this.durableSize = durableSize;
        this.maxSize = durableSize;
    }

    int pendingCount() {
        return pending.size();
    }

    long durableSize() {
        return durableSize;
    }

    /** A sync completed: everything so far is durable, on a disk of {@code size} bytes. */
    void synced(long size) {
        durable.clear();
        fuaSeq.clear();
        pending.clear();
        durableSize = size;
        maxSize = size;
    }

    /** Saves the durable image of every sector of the range not yet touched in this epoch. */
    void captureDurable(Device disk, long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long first = offset / sector;
        long end = ceilSectors(offset + length);
        long perChunk = READ_CHUNK / sector;
        for (long s = first; s < end; s += perChunk) {
            long n = Math.min(perChunk, end - s);
            if (allCaptured(s, n)) {
                continue;
            }
            byte[] images = readSectors(disk, s, n);
            for (int i = 0; i < n; i++) {
                int index = i;
                durable.computeIfAbsent(s + index, k -> copySector(images, index));
            }
        }
    }

    /** Records a completed plain write (or a discard of unknown result) of the range. */
    void recordWrite(Device disk, long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long first = offset / sector;
        long count = ceilSectors(offset + length) - first;
        pending.add(new Data(++seq, first, count, readSectors(disk, first, count), null, null));
    }

    /** Records a completed operation that made the range read as zeros. */
    void recordZeroes(Device disk, long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long first = offset / sector;
        long last = ceilSectors(offset + length) - 1;
        byte[] head = offset % sector != 0 || (last == first && (offset + length) % sector != 0)
                ? readSectors(disk, first, 1) : null;
        byte[] tail = last != first && (offset + length) % sector != 0 ? readSectors(disk, last, 1) : null;
        pending.add(new Data(++seq, first, last - first + 1, null, head, tail));
    }

    /** Records a completed FUA write: its sectors are durable with the content they now hold. */
    void recordFua(Device disk, long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long first = offset / sector;
        long count = ceilSectors(offset + length) - first;
        byte[] images = readSectors(disk, first, count);
        long fua = ++seq;
        for (int i = 0; i < count; i++) {
            durable.put(first + i, copySector(images, i));
            fuaSeq.put(first + i, fua);
        }
    }

    /**
     * Prepares a shrink from {@code oldSize} to {@code newSize} before the disk is resized: saves
     * the durable images of the cut range and returns the pending zeroing of it (the cut bytes
     * read as zeros if the device grows again). Add it with {@link #recordResize} once the
     * resize succeeded.
     */
    Data prepareShrink(Device disk, long newSize, long oldSize) throws IOException {
        captureDurable(disk, newSize, oldSize - newSize);
        long first = newSize / sector;
        long count = ceilSectors(oldSize) - first;
        byte[] head = null;
        if (newSize % sector != 0) {
            head = readSectors(disk, first, 1);
            Arrays.fill(head, (int) (newSize % sector), sector, (byte) 0);
        }
        return new Data(0, first, count, null, head, null);
    }

    /** Records a completed resize; {@code shrink} is what {@link #prepareShrink} returned, or null. */
    void recordResize(long newSize, Data shrink) {
        if (shrink != null && shrink.count() > 0) {
            pending.add(new Data(++seq, shrink.first(), shrink.count(), null, shrink.head(), null));
        }
        pending.add(new Resize(++seq, newSize));
        maxSize = Math.max(maxSize, newSize);
    }

    /**
     * Turns the disk into a random post-crash state allowed by the disk model and syncs it.
     * Deterministic for a given {@code seed} and epoch.
     */
    CrashReport crash(Device disk, long seed, CrashSimulator.Options options) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        long current = disk.size();
        long room = Math.max(current, maxSize);
        if (room > current) {
            disk.resize(room);
        }
        for (Map.Entry<Long, byte[]> e : durable.entrySet()) {
            writeSector(disk, e.getKey(), e.getValue(), 0, room);
        }
        List<Pending> kept = new ArrayList<>();
        for (Pending p : pending) {
            if (random.nextDouble() < options.keepProbability()) {
                kept.add(p);
            }
        }
        if (options.reorder()) {
            for (int i = kept.size() - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                kept.set(j, kept.set(i, kept.get(j)));
            }
        }
        long finalSize = durableSize;
        long torn = 0;
        for (Pending p : kept) {
            switch (p) {
                case Resize r -> finalSize = r.newSize();
                case Data d -> {
                    boolean tear = d.count() > 1 && random.nextDouble() < options.tearProbability();
                    if (tear) {
                        torn++;
                    }
                    apply(disk, d, tear, random, room);
                }
            }
        }
        if (disk.size() != finalSize) {
            disk.resize(finalSize);
        }
        disk.sync();
        return new CrashReport(pending.size(), kept.size(), torn, seed);
    }

    /** Writes the sectors of {@code d} that a FUA write did not supersede; a torn write only some. */
    private void apply(Device disk, Data d, boolean tear, SplittableRandom random, long limit) throws IOException {
        long keep = tear ? random.nextLong(d.count()) : -1;
        long drop = tear ? (keep + 1 + random.nextLong(d.count() - 1)) % d.count() : -1;
        for (long i = 0; i < d.count(); i++) {
            if (tear && i != keep && (i == drop || random.nextBoolean())) {
                continue;
            }
            long s = d.first() + i;
            if (fuaSeq.getOrDefault(s, -1L) > d.seq()) {
                continue;
            }
            if (d.data() != null) {
                writeSector(disk, s, d.data(), Math.toIntExact(i * sector), limit);
            } else if (i == 0 && d.head() != null) {
                writeSector(disk, s, d.head(), 0, limit);
            } else if (i == d.count() - 1 && d.tail() != null) {
                writeSector(disk, s, d.tail(), 0, limit);
            } else {
                writeSector(disk, s, zeroSector, 0, limit);
            }
        }
    }

    private void writeSector(Device disk, long s, byte[] images, int from, long limit) throws IOException {
        long offset = s * sector;
        if (offset >= limit) {
            return;
        }
        int n = (int) Math.min(sector, limit - offset);
        disk.write(ByteBuffer.wrap(images, from, n), offset);
    }

    /** The images of {@code count} sectors from {@code first}; bytes past the disk's end read as zeros. */
    private byte[] readSectors(Device disk, long first, long count) throws IOException {
        byte[] out = new byte[Math.toIntExact(count * sector)];
        long offset = first * sector;
        long size = disk.size();
        int n = (int) Math.max(0, Math.min(out.length, size - offset));
        if (n > 0) {
            disk.read(ByteBuffer.wrap(out, 0, n), offset);
        }
        return out;
    }

    private boolean allCaptured(long first, long count) {
        for (long s = first; s < first + count; s++) {
            if (!durable.containsKey(s)) {
                return false;
            }
        }
        return true;
    }

    private byte[] copySector(byte[] images, int index) {
        int from = index * sector;
        for (int i = from; i < from + sector; i++) {
            if (images[i] != 0) {
                return Arrays.copyOfRange(images, from, from + sector);
            }
        }
        return zeroSector;
    }

    private long ceilSectors(long bytes) {
        return bytes / sector + (bytes % sector == 0 ? 0 : 1);
    }
}

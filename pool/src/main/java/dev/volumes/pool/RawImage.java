package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.FileDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * Raw image export and import.
 *
 * <p>Export walks the volume's extents (holes are skipped without reading), reads data runs in
 * 1 MiB chunks and writes only blocks that are not all zero into a new sparse file, so holes stay
 * holes. Import reads the file's data extents (SEEK_DATA, so file holes are skipped), writes only
 * blocks that are not all zero into a <em>hidden</em> volume (in the engine's {@code hidden} set:
 * its blocks are live for the allocator and for check, but it is in no catalog), then publishes it
 * in the catalog and commits once. A failure at any point drops the hidden volume's references:
 * nothing partial ever appears in {@link Pool#list()} or in a committed catalog, and a crash
 * leaves only unreferenced blocks, which are free at reopen.
 */
final class RawImage {

    private static final int CHUNK = 4 << 20;
    /**
     * Largest single device write. Measured on ext4 (a 1 GiB export): 4 MiB writes into a fresh
     * file took 300 to 1,400 ms, the same bytes in 128 KiB writes 210 to 250 ms (cp's size).
     */
    private static final int MAX_WRITE = 128 << 10;

    private final Pool pool;
    private final Engine e;
    private final DataPath data;

    RawImage(Pool pool, Engine engine, DataPath data) {
        this.pool = pool;
        this.e = engine;
        this.data = data;
    }

    void export(Volume v, Path rawFile, Progress progress) throws IOException {
        try (Device src = pool.openVolume(v.name)) {
            long size = src.size();
            FileDevice out = FileDevice.create(rawFile, size);
            boolean ok = false;
            try {
                List<Extent> extents = size == 0 ? List.of() : src.extents(0, size);
                long done = 0;
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
                for (Extent x : extents) {
                    if (x.type() == Extent.Type.DATA) {
                        for (long at = x.offset(); at < x.offset() + x.length(); ) {
                            int n = (int) Math.min(CHUNK - (at % CHUNK), x.offset() + x.length() - at);
                            buf.clear().limit(n);
                            src.read(buf, at);
                            writeNonZero(out, buf.flip(), at);
                            at += n;
                            done += n;
                            progress.update(done, size);
                        }
                    } else {
                        done += x.length();
                        progress.update(done, size);
                    }
                }
                out.sync();
                progress.update(size, size);
                ok = true;
            } finally {
                try {
                    out.close();
                } finally {
                    if (!ok) {
                        Files.deleteIfExists(rawFile);
                    }
                }
            }
        }
    }

    /** Writes the runs of {@code buf} (file bytes from {@code at}) that are not all-zero 4 KiB pieces. */
    private void writeNonZero(Device out, ByteBuffer buf, long at) throws IOException {
        int piece = Math.min(e.blockSize, 4096);
        int n = buf.remaining();
        int i = 0;
        while (i < n) {
            int len = Math.min(piece - (int) ((at + i) % piece), n - i);
            if (zero(buf, i, len)) {
                i += len;
                continue;
            }
            int start = i;
            i += len;
            while (i < n) {
                int l2 = Math.min(piece, n - i);
                if (zero(buf, i, l2)) {
                    break;
                }
                i += l2;
            }
            for (int k = start; k < i; k += MAX_WRITE) {
                out.write(buf.slice(k, Math.min(MAX_WRITE, i - k)), at + k);
            }
        }
    }

    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK);

    private static boolean zero(ByteBuffer b, int from, int len) {
        return b.slice(from, len).mismatch(ZEROS.slice(0, len)) < 0;
    }

    VolumeInfo importFile(Path rawFile, String name, Progress progress) throws IOException {
        long size = Files.size(rawFile);
        int depth = e.depthFor(size);
        Volume v;
        e.meta.writeLock().lock();
        try {
            e.ensureWritable("import of '" + rawFile + "' as '" + name + "'");
            if (e.volumes.containsKey(name) || hiddenNamed(name)) {
                throw new VolumeExistsException(e.device.name(), name);
            }
            long id = e.nextVolumeId++;
            v = new Volume(id, name, VolumeKind.VOLUME, size, depth, Instant.now(), 0, "", 0, id);
            e.hidden.add(v);
        } finally {
            e.meta.writeLock().unlock();
        }
        boolean published = false;
        try {
            try (FileDevice src = FileDevice.openReadOnly(rawFile)) {
                List<Extent> extents = size == 0 ? List.of() : src.extents(0, size);
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
                long done = 0;
                int bs = e.blockSize;
                for (Extent x : extents) {
                    if (x.type() != Extent.Type.DATA) {
                        done += x.length();
                        progress.update(done, size);
                        continue;
                    }
                    for (long at = x.offset(); at < x.offset() + x.length(); ) {
                        int n = (int) Math.min(CHUNK - (at % CHUNK), x.offset() + x.length() - at);
                        buf.clear().limit(n);
                        src.read(buf, at);
                        buf.flip();
                        importChunk(v, buf, at, bs);
                        at += n;
                        done += n;
                        progress.update(done, size);
                    }
                }
            }
            e.meta.writeLock().lock();
            try {
                e.ensureWritable("import of '" + rawFile + "' as '" + name + "'");
                if (e.volumes.containsKey(name)) {
                    throw new VolumeExistsException(e.device.name(), name);
                }
                long growth = e.catalogBlocksFor(e.volumes.size() + 1) - e.catalogBlocksFor(e.volumes.size());
                if (growth > e.available()) {
                    throw e.noSpace(e.device.name(), "catalog record for '" + name + "'", growth);
                }
                e.hidden.remove(v);
                e.volumes.put(name, v);
                e.catalogDirty = true;
                published = true;
            } finally {
                e.meta.writeLock().unlock();
            }
            pool.sync();
            progress.update(size, size);
            e.meta.readLock().lock();
            try {
                return pool.info(v);
            } finally {
                e.meta.readLock().unlock();
            }
        } finally {
            if (!published) {
                e.meta.writeLock().lock();
                try {
                    e.hidden.remove(v);
                    if (v.root != 0) {
                        e.edits.dropRef(v.root, v.depth - 1, v);
                        v.root = 0;
                    }
                    v.mapped = 0;
                } finally {
                    e.meta.writeLock().unlock();
                }
            }
        }
    }

    private boolean hiddenNamed(String name) {
        for (Volume h : e.hidden) {
            if (h.name.equals(name)) {
                return true;
            }
        }
        return false;
    }

    /** Writes the blocks of one chunk that are not all zero (runs of them as one write). */
    private void importChunk(Volume v, ByteBuffer buf, long at, int bs) throws IOException {
        int n = buf.remaining();
        int i = 0;
        while (i < n) {
            int len = Math.min(bs - (int) ((at + i) % bs), n - i);
            if (zero(buf, i, len)) {
                i += len;
                continue;
            }
            int start = i;
            i += len;
            while (i < n) {
                int l2 = Math.min(bs, n - i);
                if (zero(buf, i, l2)) {
                    break;
                }
                i += l2;
            }
            for (int k = start; k < i; k += MAX_WRITE) {
                data.write(v, buf.slice(k, Math.min(MAX_WRITE, i - k)), at + k);
            }
        }
    }
}

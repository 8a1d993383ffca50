package dev.volumes.testkit;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * The expected content of a device under test, stored sparsely in 4 KiB pages so that devices far
 * larger than the heap can be checked. Not thread-safe: one test thread drives it.
 */
final class SparseModel {

    static final int PAGE = 4096;

    private final Map<Long, byte[]> pages = new HashMap<>();
    private long size;

    SparseModel(long size) {
        this.size = size;
    }

    long size() {
        return size;
    }

    void write(long offset, byte[] data) {
        long pos = offset;
        int done = 0;
        while (done < data.length) {
            long index = pos / PAGE;
            int within = (int) (pos % PAGE);
            int n = Math.min(PAGE - within, data.length - done);
            byte[] page = pages.computeIfAbsent(index, i -> new byte[PAGE]);
            System.arraycopy(data, done, page, within, n);
            done += n;
            pos += n;
        }
    }

    void zero(long offset, long length) {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            long index = pos / PAGE;
            int within = (int) (pos % PAGE);
            int n = (int) Math.min(PAGE - within, end - pos);
            byte[] page = pages.get(index);
            if (page != null) {
                Arrays.fill(page, within, within + n, (byte) 0);
            }
            pos += n;
        }
    }

    byte[] read(long offset, int length) {
        byte[] out = new byte[length];
        long pos = offset;
        int done = 0;
        while (done < length) {
            long index = pos / PAGE;
            int within = (int) (pos % PAGE);
            int n = Math.min(PAGE - within, length - done);
            byte[] page = pages.get(index);
            if (page != null) {
                System.arraycopy(page, within, out, done, n);
            }
            done += n;
            pos += n;
        }
        return out;
    }

    /** Shrinking forgets the tail; growing exposes zeros. */
    void resize(long newSize) {
        if (newSize < size) {
            zero(newSize, Math.min(size, ((newSize / PAGE) + 1) * PAGE) - newSize);
            pages.keySet().removeIf(index -> index * PAGE >= newSize);
        }
        size = newSize;
    }

    /** Start offsets of the pages that were ever written, ascending. */
    TreeSet<Long> touchedPages() {
        TreeSet<Long> out = new TreeSet<>();
        for (long index : pages.keySet()) {
            out.add(index * PAGE);
        }
        return out;
    }
}

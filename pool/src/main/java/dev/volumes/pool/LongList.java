package dev.volumes.pool;

import java.util.Arrays;

/** A growable array of longs without boxing (logical blocks and map entries). Not thread-safe. */
final class LongList {

    private long[] a = new long[16];
    private int n;

    void add(long x) {
        if (n == a.length) {
            a = Arrays.copyOf(a, n * 2);
        }
        a[n++] = x;
    }

    long get(int i) {
        return a[i];
    }

    int size() {
        return n;
    }

    /** Empties the list, keeping its capacity. */
    void clear() {
        n = 0;
    }
}

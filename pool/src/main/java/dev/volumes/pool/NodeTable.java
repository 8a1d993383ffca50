package dev.volumes.pool;

/**
 * The in-memory map nodes by block number: an open-addressing table with primitive keys, so a
 * lookup (the read path does one per map level) neither boxes a {@code long} nor chases a
 * bucket list. Block 0 is never a map node (the superblock ring lives there), so key 0 marks an
 * empty slot. Linear probing; removal shifts the following run back (no tombstones); the table
 * doubles at half full. Not thread-safe: guarded by the engine's metadata lock like the nodes.
 */
final class NodeTable {

    private long[] keys = new long[64];
    private Node[] values = new Node[64];
    private int size;

    /** The node at {@code block}, or null. */
    Node get(long block) {
        long[] k = keys;
        int mask = k.length - 1;
        for (int i = slot(block, mask); ; i = (i + 1) & mask) {
            long key = k[i];
            if (key == block) {
                return values[i];
            }
            if (key == 0) {
                return null;
            }
        }
    }

    boolean containsKey(long block) {
        return block != 0 && get(block) != null;
    }

    /** Maps {@code block} to {@code node}; returns the node it replaced, or null. */
    Node put(long block, Node node) {
        if (block <= 0 || node == null) {
            throw new IllegalArgumentException("map node table: block " + block + " / node " + node);
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        int mask = keys.length - 1;
        for (int i = slot(block, mask); ; i = (i + 1) & mask) {
            if (keys[i] == block) {
                Node old = values[i];
                values[i] = node;
                return old;
            }
            if (keys[i] == 0) {
                keys[i] = block;
                values[i] = node;
                size++;
                return null;
            }
        }
    }

    /** Removes {@code block}; returns its node, or null if it was absent. */
    Node remove(long block) {
        if (block <= 0) {
            return null;
        }
        int mask = keys.length - 1;
        int i = slot(block, mask);
        while (keys[i] != block) {
            if (keys[i] == 0) {
                return null;
            }
            i = (i + 1) & mask;
        }
        Node old = values[i];
        // Backward-shift deletion: move later members of the probe run into the hole when their
        // home slot does not lie cyclically in (hole, j].
        int hole = i;
        for (int j = (i + 1) & mask; keys[j] != 0; j = (j + 1) & mask) {
            int home = slot(keys[j], mask);
            boolean stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!stays) {
                keys[hole] = keys[j];
                values[hole] = values[j];
                hole = j;
            }
        }
        keys[hole] = 0;
        values[hole] = null;
        size--;
        return old;
    }

    int size() {
        return size;
    }

    /** Every block that holds a node, in no particular order (a copy). */
    java.util.List<Long> blocks() {
        java.util.List<Long> out = new java.util.ArrayList<>(size);
        for (long key : keys) {
            if (key != 0) {
                out.add(key);
            }
        }
        return out;
    }

    private void grow() {
        long[] oldKeys = keys;
        Node[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new Node[oldKeys.length * 2];
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != 0) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }

    private static int slot(long block, int mask) {
        long h = block * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & mask;
    }
}

package dev.volumes.pool;

/**
 * One map node held in memory: a block of 64-bit entries. A node is {@code dirty} while it
 * belongs to the open transaction (written at the next commit, may be changed in place); once
 * a commit has captured it, it is clean and never changed again: writers shadow it instead.
 * Guarded by the engine's metadata lock.
 */
final class Node {

    final long block;
    final int level;
    final long owner;
    final long[] entries;
    boolean dirty;

    Node(long block, int level, long owner, long[] entries, boolean dirty) {
        this.block = block;
        this.level = level;
        this.owner = owner;
        this.entries = entries;
        this.dirty = dirty;
    }
}

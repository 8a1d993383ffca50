package dev.volumes.pool;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@link Pool#repair()}: runs the check with every volume's I/O stopped, fixes what can be fixed
 * from the verified in-memory state, commits, and checks again.
 *
 * <p>Locking: the commit lock, then every volume's {@code rw} lock exclusively (taken without the
 * metadata lock, then confirmed under it: if the set of volumes changed meanwhile, all are
 * released and taken again), then the metadata lock for the scan and the fixes. With no write in
 * flight every used block is explained by a reference, a pending free or a reservation, so a
 * leak is really a leak.
 *
 * <p>What it fixes: wrong reference counts (set to the references found), leaked blocks (queued
 * to be freed like any free), referenced blocks marked free (marked used), counters; a map node
 * whose device copy is damaged or stale is rewritten by shadowing every path that reaches it
 * (the node and its ancestors get fresh blocks written by the commit; the damaged block is freed);
 * a damaged catalog is rewritten; damaged or stale superblock slots are overwritten by four fresh
 * commits. What it refuses: pointers to unloaded nodes or outside the pool and blocks reached
 * twice (the in-memory map itself is wrong; reopening rebuilds it from the last commit), a
 * referenced block already queued to be freed (only a reopen can rebuild the allocator safely),
 * and anything while an import is running. When it refuses because only a reopen can help, it
 * also commits nothing and stops the pool (fail-stop, as after a failed commit): the wrong
 * in-memory state must never reach the device, and a queued free of a referenced block must
 * never be released.
 */
final class Repairer {

    private final Engine e;
    private final Committer committer;
    private final List<String> fixed = new ArrayList<>();
    private final List<String> refused = new ArrayList<>();

    Repairer(Engine engine, Committer committer) {
        this.e = engine;
        this.committer = committer;
    }

    RepairReport run() throws IOException {
        CheckReport before;
        boolean superblocks = false;
        boolean stopped = false;
        e.commitLock.lock();
        List<Volume> locked = lockAllVolumes();
        try {
            Checker c = new Checker(e);
            e.meta.writeLock().lock();
            try {
                c.scanMemory();
                c.verifyDevice();
                before = c.report();
                if (needsReopen(c)) {
                    e.fail(new IOException("repair of '" + e.device.name() + "' found an in-memory state that only a"
                            + " reopen can rebuild (" + String.join("; ", refused) + ")"));
                    refused.add("nothing was changed or committed: the pool refuses every change until it is"
                            + " reopened, so this state never reaches the device");
                    stopped = true;
                } else {
                    superblocks = fix(c);
                }
            } finally {
                e.meta.writeLock().unlock();
            }
            int commits = stopped ? 0 : superblocks ? Superblock.SLOTS : 1;
            for (int i = 0; i < commits; i++) {
                if (superblocks) {
                    e.meta.writeLock().lock();
                    try {
                        e.catalogDirty = true; // forces a new superblock generation
                    } finally {
                        e.meta.writeLock().unlock();
                    }
                }
                committer.commit();
            }
            if (superblocks) {
                fixed.add("wrote " + commits + " fresh superblock generations over the damaged or stale slots");
            }
        } finally {
            for (Volume v : locked) {
                v.rw.writeLock().unlock();
            }
            e.commitLock.unlock();
        }
        CheckReport after = new Checker(e).run();
        return new RepairReport(fixed, refused, before, after);
    }

    private List<Volume> lockAllVolumes() {
        while (true) {
            List<Volume> all = snapshotVolumes();
            for (Volume v : all) {
                v.rw.writeLock().lock();
            }
            if (new HashSet<>(snapshotVolumes()).equals(new HashSet<>(all))) {
                return all;
            }
            for (Volume v : all) {
                v.rw.writeLock().unlock();
            }
        }
    }

    private List<Volume> snapshotVolumes() {
        e.meta.readLock().lock();
        try {
            List<Volume> all = new ArrayList<>(e.volumes.values());
            all.addAll(e.hidden);
            return all;
        } finally {
            e.meta.readLock().unlock();
        }
    }

    /**
     * Whether a finding can only be fixed by a reopen: the in-memory map is inconsistent (a
     * dangling or out-of-range pointer, a block reached twice) or a referenced block is queued to
     * be freed. Records each as refused. Meta held.
     */
    private boolean needsReopen(Checker c) {
        Set<Long> pending = new HashSet<>(e.space.allPending());
        for (CheckReport.Finding f : c.findings()) {
            switch (f.kind()) {
                case OUT_OF_RANGE, DANGLING_POINTER, DOUBLE_REFERENCE -> refused.add(f.message()
                        + ": refused, the in-memory map itself is inconsistent; close and reopen the pool to rebuild"
                        + " it from the last commit");
                case REFERENCED_FREE -> {
                    if (pending.contains(f.block())) {
                        refused.add("block " + f.block() + " is referenced but queued to be freed: refused, reopen"
                                + " the pool to rebuild the allocator from the last commit");
                    }
                }
                default -> { }
            }
        }
        return !refused.isEmpty();
    }

    /** Applies the fixes (meta held); returns whether superblock slots need fresh commits. */
    private boolean fix(Checker c) {
        boolean superblocks = false;
        Set<Long> relocate = new HashSet<>();
        for (CheckReport.Finding f : c.findings()) {
            switch (f.kind()) {
                case SUPERBLOCK -> superblocks = true;
                case BAD_CHECKSUM, STALE_METADATA -> {
                    if (e.catalog.contains(f.block())) {
                        if (!e.catalogDirty) {
                            e.catalogDirty = true;
                            fixed.add("catalog block " + f.block() + " is damaged on the device: the catalog is "
                                    + "rewritten to fresh blocks from memory");
                        }
                    } else {
                        relocate.add(f.block());
                    }
                }
                default -> { } // counts, leaks and counters are recomputed below
            }
        }
        if (!e.hidden.isEmpty()) {
            refused.add("reference counts and leaks: refused while an import is running (its blocks are in flight)");
            return superblocks;
        }
        recount(c);
        for (long block : relocate) {
            relocateNode(block);
        }
        return superblocks;
    }

    private void recount(Checker c) {
        Set<Long> pending = new HashSet<>(e.space.allPending());
        for (long b = e.space.first(); b < e.space.total(); b++) {
            int want = c.expected.getOrDefault(b, 0);
            int have = e.space.rc(b);
            if (want > 0 && (have != want || !e.space.usedBit(b))) {
                e.space.setRc(b, want);
                fixed.add("block " + b + ": reference count " + have + " set to " + want);
            } else if (want == 0 && (have > 0 || (e.space.usedBit(b) && !pending.contains(b)))) {
                e.space.reclaim(b, e.txn);
                fixed.add("leaked block " + b + " reclaimed (free once the next commit but one is durable)");
            }
        }
        for (Volume v : e.volumes.values()) {
            long counted = e.mappedBlocks(v);
            if (counted != v.mapped) {
                fixed.add("volume '" + v.name + "': mapped counter " + v.mapped + " set to " + counted);
                v.mapped = counted;
            }
        }
        long counted = e.space.countFree();
        if (counted != e.space.free()) {
            fixed.add("free counter " + e.space.free() + " set to " + counted);
            e.space.setFree(counted);
        }
    }

    /** Shadows every path to node {@code block} so no map reaches it; the commit writes the copies. */
    private void relocateNode(long block) {
        Node n = e.nodes.get(block);
        if (n == null) {
            refused.add("node " + block + " is damaged on the device but not in memory: refused");
            return;
        }
        for (int guard = 0; guard < 1_000_000; guard++) {
            Volume v = null;
            long lb = -1;
            for (Volume cand : e.volumes.values()) {
                lb = find(cand.root, cand.depth - 1, 0, block);
                if (lb >= 0) {
                    v = cand;
                    break;
                }
            }
            if (v == null) {
                fixed.add("map node " + block + " is damaged on the device: rewritten to fresh blocks from the "
                        + "verified copy in memory");
                return;
            }
            long need = v.depth;
            if (need > e.space.free() - e.space.reserved()) {
                refused.add("map node " + block + " is damaged on the device: refused, no free block to rewrite it");
                return;
            }
            e.space.reserve(need);
            long before = e.space.reserved();
            long entry = e.setEntry(v, lb, e.lookup(v, lb));
            e.space.unreserve(need - (before - e.space.reserved()));
            if (entry != e.lookup(v, lb)) {
                throw new IllegalStateException("repair changed an entry of '" + v.name + "' (bug)");
            }
        }
    }

    /** The first logical block under {@code target} in the subtree at {@code ptr}, or -1. */
    private long find(long ptr, int level, long base, long target) {
        if (ptr == 0 || level < 0) {
            return -1;
        }
        if (ptr == target) {
            return base;
        }
        Node n = e.nodes.get(ptr);
        if (n == null || level == 0) {
            return -1;
        }
        for (int i = 0; i < e.fanout; i++) {
            long r = find(n.entries[i], level - 1, base + i * e.pow[level], target);
            if (r >= 0) {
                return r;
            }
        }
        return -1;
    }

}

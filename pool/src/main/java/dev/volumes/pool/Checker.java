package dev.volumes.pool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The consistency walk behind {@link Pool#check()}. Holds the commit lock for the whole walk
 * (so no freed block is reused and every clean node is on the device) and the metadata lock
 * for the in-memory part.
 *
 * <p>Checks: (1) reference counts recomputed from every root equal the allocator's; (2) no
 * block is both a map node and a data or catalog block, and nodes keep one level; (3) every
 * used block is referenced, pending, or reserved by a write in progress (else: leak), and no
 * referenced block is free (else: double use ahead); (4) the free counter equals the bitmap;
 * (5) every clean node and catalog block on the device verifies (magic, type, level, self
 * address, pool tag, checksum) and equals the in-memory copy; (6) the newest superblock slot
 * holds the committed generation.
 */
final class Checker {

    private final Engine e;
    private final List<CheckReport.Finding> findings = new ArrayList<>();
    private final List<Long> slotGenerations = new ArrayList<>();
    // results of the in-memory scan, kept for Repairer
    final Map<Long, Integer> expected = new HashMap<>();
    final Set<Long> nodeBlocks = new HashSet<>();
    final Set<Long> dataBlocks = new HashSet<>();
    final Map<Long, long[]> clean = new HashMap<>();
    final Map<Long, Integer> levels = new HashMap<>();
    List<Long> catalog;
    long volumes;
    long generation;

    Checker(Engine engine) {
        this.e = engine;
    }

    private void add(CheckReport.Kind kind, long block, String expected, String actual, String message) {
        findings.add(new CheckReport.Finding(kind, block, expected, actual, message));
    }

    List<CheckReport.Finding> findings() {
        return findings;
    }

    CheckReport run() throws IOException {
        e.commitLock.lock();
        try {
            e.meta.writeLock().lock();
            try {
                scanMemory();
            } finally {
                e.meta.writeLock().unlock();
            }
            verifyDevice();
            return report();
        } finally {
            e.commitLock.unlock();
        }
    }

    CheckReport report() {
        return new CheckReport(findings.stream().map(CheckReport.Finding::message).toList(), volumes,
                nodeBlocks.size() + catalog.size(), dataBlocks.size(), generation, findings, slotGenerations);
    }

    /** The in-memory part. Commit lock and meta (write) held. */
    void scanMemory() {
        generation = e.committedGen;
        catalog = List.copyOf(e.catalog);
        volumes = e.volumes.size();
        for (long c : catalog) {
            expected.merge(c, 1, Integer::sum);
        }
        List<Volume> all = new ArrayList<>(e.volumes.values());
        all.addAll(e.hidden);
        for (Volume v : all) {
            long counted = e.mappedBlocks(v);
            if (counted != v.mapped) {
                add(CheckReport.Kind.COUNTER, -1, counted + " mapped blocks", v.mapped + " mapped blocks",
                        "volume '" + v.name + "' maps " + counted + " blocks, its counter says " + v.mapped);
            }
            if (v.root != 0) {
                walk(v, v.root, v.depth - 1, expected, nodeBlocks, dataBlocks, clean, levels);
            }
        }
        compare(expected, nodeBlocks, dataBlocks, catalog);
    }

    private void walk(Volume v, long block, int level, Map<Long, Integer> expected, Set<Long> nodeBlocks,
            Set<Long> dataBlocks, Map<Long, long[]> clean, Map<Long, Integer> levels) {
        boolean seen = expected.containsKey(block);
        expected.merge(block, 1, Integer::sum);
        if (seen) {
            if (!nodeBlocks.contains(block)) {
                add(CheckReport.Kind.DOUBLE_REFERENCE, block, "level-" + level + " map node", "also a data or catalog block",
                        "block " + block + " is a level-" + level + " node of '" + v.name
                        + "' and also a data or catalog block (double reference)");
            } else if (levels.get(block) != level) {
                add(CheckReport.Kind.DOUBLE_REFERENCE, block, "level " + levels.get(block), "level " + level,
                        "node " + block + " is reached at levels " + levels.get(block) + " and " + level);
            }
            return;
        }
        Node n = e.nodes.get(block);
        if (n == null) {
            add(CheckReport.Kind.DANGLING_POINTER, block, "a level-" + level + " map node", "no node loaded",
                    "volume '" + v.name + "' references node " + block + " that is not loaded (dangling pointer)");
            return;
        }
        if (n.level != level) {
            add(CheckReport.Kind.DOUBLE_REFERENCE, block, "level " + level, "level " + n.level,
                    "node " + block + " holds level " + n.level + ", reached at level " + level);
        }
        nodeBlocks.add(block);
        levels.put(block, level);
        if (!n.dirty) {
            clean.put(block, n.entries.clone());
        }
        for (int i = 0; i < n.entries.length; i++) {
            long entry = n.entries[i];
            if (entry == 0) {
                continue;
            }
            long child = entry & MetaBlock.ENTRY_BLOCK;
            if (!e.space.inDataArea(child)) {
                String range = e.space.first() + ".." + (e.space.total() - 1);
                add(CheckReport.Kind.OUT_OF_RANGE, block, "entry " + i + " in the data area " + range,
                        "entry " + i + " = block " + child, "node " + block + " entry " + i + " points at block "
                        + child + " outside the data area " + range);
                continue;
            }
            if (level > 0) {
                walk(v, child, level - 1, expected, nodeBlocks, dataBlocks, clean, levels);
            } else {
                if (nodeBlocks.contains(child) || e.nodes.containsKey(child)) {
                    Node other = e.nodes.get(child);
                    add(CheckReport.Kind.DOUBLE_REFERENCE, child, "a data block",
                            other == null ? "a map node" : "a level-" + other.level + " map node",
                            "block " + child + " is used as data by node " + block + " entry " + i
                            + " but is a map node (double reference)");
                }
                expected.merge(child, 1, Integer::sum);
                dataBlocks.add(child);
            }
        }
    }

    private void compare(Map<Long, Integer> expected, Set<Long> nodeBlocks, Set<Long> dataBlocks, List<Long> catalog) {
        for (long c : catalog) {
            if (nodeBlocks.contains(c) || dataBlocks.contains(c)) {
                add(CheckReport.Kind.DOUBLE_REFERENCE, c, "a catalog block only",
                        "also a " + (nodeBlocks.contains(c) ? "map node" : "data block"), "catalog block " + c
                        + " is also referenced by a map (double reference)");
            }
        }
        Set<Long> pending = new HashSet<>(e.space.allPending());
        long reservedInFlight = e.space.reserved() + e.space.inFlight();
        long unexplained = 0;
        List<Long> leaks = new ArrayList<>();
        for (long b = e.space.first(); b < e.space.total(); b++) {
            int want = expected.getOrDefault(b, 0);
            int have = e.space.rc(b);
            if (want != have && want > 0) {
                add(CheckReport.Kind.WRONG_REFCOUNT, b, String.valueOf(want), String.valueOf(have), "block " + b
                        + ": refcount " + have + ", but " + want + " references found");
            }
            if (want > 0 && pending.contains(b)) {
                add(CheckReport.Kind.REFERENCED_FREE, b, "used", "queued to be freed", "block " + b
                        + " is referenced but waiting to be freed (double use ahead)");
            }
            if (want > 0 && !e.space.usedBit(b)) {
                add(CheckReport.Kind.REFERENCED_FREE, b, "used", "marked free", "block " + b
                        + " is referenced but marked free (double use ahead)");
            }
            if ((want == 0 && have == 0 && e.space.usedBit(b) && !pending.contains(b)) || (want == 0 && have > 0)) {
                unexplained++;
                leaks.add(b);
            }
        }
        // Writes in progress hold allocated, not yet published blocks (count 1, no reference):
        // only more unexplained blocks than that are leaks.
        if (unexplained > reservedInFlight) {
            for (long b : leaks) {
                if (e.space.rc(b) > 0) {
                    add(CheckReport.Kind.WRONG_REFCOUNT, b, "0", String.valueOf(e.space.rc(b)), "block " + b
                            + ": refcount " + e.space.rc(b) + ", but 0 references found");
                }
                add(CheckReport.Kind.LEAKED, b, "free", "used", "block " + b
                        + " is used but neither referenced nor pending (leak; " + unexplained + " such blocks, "
                        + reservedInFlight + " reserved by writes in progress)");
            }
        }
        long counted = e.space.countFree();
        if (counted != e.space.free()) {
            add(CheckReport.Kind.COUNTER, -1, counted + " free blocks", e.space.free() + " free blocks",
                    "free counter says " + e.space.free() + " blocks, bitmap has " + counted);
        }
    }

    /** Reads and verifies every committed metadata block and the superblock ring. Commit lock held. */
    void verifyDevice() throws IOException {
        for (Map.Entry<Long, long[]> en : clean.entrySet()) {
            long block = en.getKey();
            ByteBuffer b = read(block);
            try {
                MetaBlock.verify(e.device.name(), b, block, MetaBlock.TYPE_MAP, levels.get(block), e.tag, generation);
                long[] onDisk = new long[e.fanout];
                b.order(ByteOrder.LITTLE_ENDIAN).position(MetaBlock.HEADER).asLongBuffer().get(onDisk);
                int i = java.util.Arrays.mismatch(onDisk, en.getValue());
                if (i >= 0) {
                    String want = "entry " + i + " = 0x" + Long.toHexString(en.getValue()[i]);
                    String have = "entry " + i + " = 0x" + Long.toHexString(onDisk[i]);
                    add(CheckReport.Kind.STALE_METADATA, block, want, have, "node " + block
                            + " on the device differs from the committed copy in memory: first at " + have
                            + ", expected " + want);
                }
            } catch (CorruptPoolException bad) {
                add(CheckReport.Kind.BAD_CHECKSUM, block, "a verified level-" + levels.get(block) + " map node",
                        bad.getMessage(), bad.getMessage());
            }
        }
        for (long block : catalog) {
            try {
                MetaBlock.verify(e.device.name(), read(block), block, MetaBlock.TYPE_CATALOG, 0, e.tag, generation);
            } catch (CorruptPoolException bad) {
                add(CheckReport.Kind.BAD_CHECKSUM, block, "a verified catalog block", bad.getMessage(), bad.getMessage());
            }
        }
        List<CorruptPoolException> slotErrors = new ArrayList<>();
        List<Superblock> slots = new Loader(e.device).slots(slotErrors);
        for (Superblock sb : slots) {
            slotGenerations.add(sb.generation());
        }
        if (slots.isEmpty() || slots.get(0).generation() != generation) {
            String newest = slots.isEmpty() ? "none" : String.valueOf(slots.get(0).generation());
            add(CheckReport.Kind.SUPERBLOCK, -1, "newest valid generation " + generation,
                    "newest valid generation " + newest, "newest valid superblock is generation " + newest
                    + ", committed generation is " + generation);
        }
        for (CorruptPoolException s : slotErrors) {
            add(CheckReport.Kind.SUPERBLOCK, -1, "a valid or empty slot", s.getMessage(), "superblock: " + s.getMessage());
        }
    }

    private ByteBuffer read(long block) throws IOException {
        ByteBuffer b = MetaBlock.allocate(e.blockSize);
        e.device.read(b, block * e.blockSize);
        return b.clear();
    }
}

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
    private final List<String> problems = new ArrayList<>();

    Checker(Engine engine) {
        this.e = engine;
    }

    CheckReport run() throws IOException {
        e.commitLock.lock();
        try {
            Map<Long, Integer> expected = new HashMap<>();
            Set<Long> nodeBlocks = new HashSet<>();
            Set<Long> dataBlocks = new HashSet<>();
            Map<Long, long[]> clean = new HashMap<>();
            Map<Long, Integer> levels = new HashMap<>();
            List<Long> catalog;
            long volumes;
            long generation;
            e.meta.writeLock().lock();
            try {
                generation = e.committedGen;
                catalog = List.copyOf(e.catalog);
                volumes = e.volumes.size();
                for (long c : catalog) {
                    expected.merge(c, 1, Integer::sum);
                }
                for (Volume v : e.volumes.values()) {
                    long counted = e.mappedBlocks(v);
                    if (counted != v.mapped) {
                        problems.add("volume '" + v.name + "' maps " + counted + " blocks, its counter says "
                                + v.mapped);
                    }
                    if (v.root != 0) {
                        walk(v, v.root, v.depth - 1, expected, nodeBlocks, dataBlocks, clean, levels);
                    }
                }
                compare(expected, nodeBlocks, dataBlocks, catalog);
            } finally {
                e.meta.writeLock().unlock();
            }
            verifyDevice(clean, levels, catalog, generation);
            return new CheckReport(problems, volumes, nodeBlocks.size() + catalog.size(), dataBlocks.size(),
                    generation);
        } finally {
            e.commitLock.unlock();
        }
    }

    private void walk(Volume v, long block, int level, Map<Long, Integer> expected, Set<Long> nodeBlocks,
            Set<Long> dataBlocks, Map<Long, long[]> clean, Map<Long, Integer> levels) {
        boolean seen = expected.containsKey(block);
        expected.merge(block, 1, Integer::sum);
        if (seen) {
            if (!nodeBlocks.contains(block)) {
                problems.add("block " + block + " is a level-" + level + " node of '" + v.name
                        + "' and also a data or catalog block (double reference)");
            } else if (levels.get(block) != level) {
                problems.add("node " + block + " is reached at levels " + levels.get(block) + " and " + level);
            }
            return;
        }
        Node n = e.nodes.get(block);
        if (n == null) {
            problems.add("volume '" + v.name + "' references node " + block + " that is not loaded");
            return;
        }
        if (n.level != level) {
            problems.add("node " + block + " holds level " + n.level + ", reached at level " + level);
        }
        nodeBlocks.add(block);
        levels.put(block, level);
        if (!n.dirty) {
            clean.put(block, n.entries.clone());
        }
        for (long entry : n.entries) {
            if (entry == 0) {
                continue;
            }
            long child = entry & MetaBlock.ENTRY_BLOCK;
            if (!e.space.inDataArea(child)) {
                problems.add("node " + block + " points at block " + child + " outside the data area");
                continue;
            }
            if (level > 0) {
                walk(v, child, level - 1, expected, nodeBlocks, dataBlocks, clean, levels);
            } else {
                if (nodeBlocks.contains(child) || e.nodes.containsKey(child)) {
                    problems.add("block " + child + " is used as data by node " + block
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
                problems.add("catalog block " + c + " is also referenced by a map (double reference)");
            }
        }
        Set<Long> pending = new HashSet<>(e.space.allPending());
        long reservedInFlight = e.space.reserved();
        long unexplained = 0;
        for (long b = e.space.first(); b < e.space.total(); b++) {
            int want = expected.getOrDefault(b, 0);
            int have = e.space.rc(b);
            if (want != have) {
                problems.add("block " + b + ": refcount " + have + ", but " + want + " references found");
            }
            if (want > 0 && pending.contains(b)) {
                problems.add("block " + b + " is referenced but waiting to be freed (double use ahead)");
            }
            if (want > 0 && !e.space.usedBit(b)) {
                problems.add("block " + b + " is referenced but marked free (double use ahead)");
            }
            if (want == 0 && have == 0 && e.space.usedBit(b) && !pending.contains(b)) {
                unexplained++;
            }
            if (want == 0 && have > 0) {
                unexplained++;
            }
        }
        if (unexplained > reservedInFlight) {
            problems.add(unexplained + " blocks are used but neither referenced nor pending (leak); "
                    + reservedInFlight + " are reserved by writes in progress");
        }
        long counted = e.space.countFree();
        if (counted != e.space.free()) {
            problems.add("free counter says " + e.space.free() + " blocks, bitmap has " + counted);
        }
    }

    private void verifyDevice(Map<Long, long[]> clean, Map<Long, Integer> levels, List<Long> catalog,
            long generation) throws IOException {
        for (Map.Entry<Long, long[]> en : clean.entrySet()) {
            long block = en.getKey();
            ByteBuffer b = read(block);
            try {
                MetaBlock.verify(e.device.name(), b, block, MetaBlock.TYPE_MAP, levels.get(block), e.tag, generation);
                long[] onDisk = new long[e.fanout];
                b.order(ByteOrder.LITTLE_ENDIAN).position(MetaBlock.HEADER).asLongBuffer().get(onDisk);
                if (!java.util.Arrays.equals(onDisk, en.getValue())) {
                    problems.add("node " + block + " on the device differs from the committed copy in memory");
                }
            } catch (CorruptPoolException bad) {
                problems.add(bad.getMessage());
            }
        }
        for (long block : catalog) {
            try {
                MetaBlock.verify(e.device.name(), read(block), block, MetaBlock.TYPE_CATALOG, 0, e.tag, generation);
            } catch (CorruptPoolException bad) {
                problems.add(bad.getMessage());
            }
        }
        List<CorruptPoolException> slotErrors = new ArrayList<>();
        List<Superblock> slots = new Loader(e.device).slots(slotErrors);
        if (slots.isEmpty() || slots.get(0).generation() != generation) {
            problems.add("newest valid superblock is generation "
                    + (slots.isEmpty() ? "none" : slots.get(0).generation()) + ", committed generation is "
                    + generation);
        }
        for (CorruptPoolException s : slotErrors) {
            problems.add("superblock: " + s.getMessage());
        }
    }

    private ByteBuffer read(long block) throws IOException {
        ByteBuffer b = MetaBlock.allocate(e.blockSize);
        e.device.read(b, block * e.blockSize);
        return b.clear();
    }
}

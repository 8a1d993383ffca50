package dev.volumes.pool;

import dev.volumes.device.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Opens a pool: picks a superblock, verifies its whole tree and rebuilds reference counts in
 * one walk of the unique nodes.
 *
 * <p>Recovery rule (docs/pool-format.md "Recovery rule"): decode all four ring slots (an intact
 * slot of a newer format refuses the whole pool); take the valid slot with the highest generation
 * G and verify its catalog and every map node reachable from it; if anything fails, try the
 * valid slot holding G's fallback generation (its {@code previousGeneration}, else G - 1) the
 * same way, unless the slot where generation G + 1 would be is damaged: that slot may hold a
 * newer commit whose successor may have reused the fallback's blocks, so then G is the only
 * candidate. Never older. If no candidate verifies, the error lists every attempt as suppressed.
 */
final class Loader {

    private final Device device;
    private final String name;
    /** Per ring slot: not blank but failing its checks (set by {@link #slots}). */
    private final boolean[] damaged = new boolean[Superblock.SLOTS];

    Loader(Device device) {
        this.device = device;
        this.name = device.name();
    }

    /** Reads and decodes all slots; invalid slots are reported in {@code errors}. */
    List<Superblock> slots(List<CorruptPoolException> errors) throws IOException {
        long size = device.size();
        if (size < (long) Superblock.SLOTS * Superblock.SLOT_SIZE) {
            throw new CorruptPoolException(name, -1, "device of " + size + " bytes is smaller than the "
                    + Superblock.SLOTS * Superblock.SLOT_SIZE + "-byte superblock ring: not a volumes pool");
        }
        List<Superblock> valid = new ArrayList<>();
        int blank = 0;
        boolean readOnly = device.capabilities().readOnly();
        for (int slot = 0; slot < Superblock.SLOTS; slot++) {
            ByteBuffer raw = ByteBuffer.allocate(Superblock.SLOT_SIZE);
            device.read(raw, (long) slot * Superblock.SLOT_SIZE);
            if (Superblock.blank(raw)) {
                blank++;
                continue;
            }
            String unsupported = Superblock.unsupported(raw, slot, readOnly);
            if (unsupported != null) {
                // written by a newer format: never fall back past it to an older generation
                throw new UnsupportedPoolFormatException(name, unsupported);
            }
            try {
                valid.add(Superblock.decode(name, raw, slot));
            } catch (CorruptPoolException e) {
                damaged[slot] = true;
                errors.add(e);
            }
        }
        if (blank == Superblock.SLOTS) {
            throw new CorruptPoolException(name, -1, "all " + Superblock.SLOTS
                    + " superblock slots are empty: not a volumes pool");
        }
        valid.sort(Comparator.comparingLong(Superblock::generation).reversed());
        return valid;
    }

    Engine open() throws IOException {
        List<CorruptPoolException> errors = new ArrayList<>();
        List<Superblock> valid = slots(errors);
        List<Superblock> candidates = new ArrayList<>();
        boolean newerDamaged = false;
        if (!valid.isEmpty()) {
            Superblock newest = valid.get(0);
            candidates.add(newest);
            // The slot generation G + 1 would occupy is damaged: it may hold a commit newer than
            // G (a slot can rot after its commit was durable), whose successor transaction may
            // have reused blocks that only G's fallback references. Then G is the only candidate.
            newerDamaged = damaged[Superblock.slotOf(newest.generation() + 1)];
            for (Superblock s : valid) {
                if (!newerDamaged && s.generation() == newest.fallbackGeneration()) {
                    candidates.add(s);
                }
            }
        }
        for (Superblock sb : candidates) {
            Engine engine;
            try {
                engine = load(sb);
            } catch (CorruptPoolException e) {
                errors.add(e);
                continue;
            }
            for (Superblock previous : valid) {
                if (previous.generation() == sb.fallbackGeneration()) {
                    protectPrevious(engine, previous);
                }
            }
            // a generation number is never reused: after a fallback the next commit is newer than
            // every slot, including the one that did not verify; after a damaged slot that may
            // hold G + 1, the next commit is G + 5: above anything it can hold, and written into
            // it (slot (G + 5) % 4), so the ring is whole again after one commit
            long newest = valid.get(0).generation();
            engine.txn = Math.max(engine.txn, newest + (newerDamaged ? 1 + Superblock.SLOTS : 1));
            return engine;
        }
        String why;
        if (valid.isEmpty()) {
            why = "no superblock slot is valid";
        } else if (newerDamaged) {
            long g = valid.get(0).generation();
            why = "generation " + g + " does not verify, and superblock slot " + Superblock.slotOf(g + 1)
                    + ", where generation " + (g + 1) + " would be, is damaged: it may hold a newer commit,"
                    + " after which the blocks of generation " + valid.get(0).fallbackGeneration()
                    + " may have been reused, so the pool does not fall back further";
        } else {
            why = "neither generation " + valid.get(0).generation() + " nor its fallback generation "
                    + valid.get(0).fallbackGeneration() + " verifies";
        }
        CorruptPoolException out = new CorruptPoolException(name, -1, why);
        errors.forEach(out::addSuppressed);
        throw out;
    }

    Engine load(Superblock sb) throws IOException {
        long need = sb.totalBlocks() * sb.blockSize();
        if (device.size() < need) {
            throw new CorruptPoolException(name, -1, "generation " + sb.generation() + " needs " + need
                    + " bytes but the device has " + device.size());
        }
        Engine e = new Engine(device, sb.blockSize(), sb.uuid(), sb.label(), sb.createdMillis(), sb.totalBlocks(),
                sb.reserveBlocks(), sb.generation(), sb.nextVolumeId());
        List<CatalogEntry> entries = readCatalog(e, sb);
        Set<String> names = new HashSet<>();
        Set<Long> ids = new HashSet<>();
        for (CatalogEntry c : entries) {
            if (!names.add(c.name()) || !ids.add(c.id()) || c.id() <= 0 || c.id() >= sb.nextVolumeId()) {
                throw new CorruptPoolException(name, sb.catalogBlock(), "catalog record '" + c.name() + "' (id "
                        + c.id() + ") duplicates a name or id, or its id is outside 1.." + (sb.nextVolumeId() - 1));
            }
            int needed;
            try {
                needed = e.depthFor(c.size());
            } catch (IllegalArgumentException tooBig) {
                throw new CorruptPoolException(name, sb.catalogBlock(), "volume '" + c.name() + "' size " + c.size()
                        + " is too large: " + tooBig.getMessage());
            }
            if (c.depth() < needed) {
                throw new CorruptPoolException(name, sb.catalogBlock(), "volume '" + c.name() + "' of " + c.size()
                        + " bytes needs " + e.depthFor(c.size()) + " map levels, catalog says " + c.depth());
            }
            long mapped = c.root() == 0 ? 0 : visit(e, sb, c, c.root(), c.depth() - 1, 0);
            Volume v = new Volume(c.id(), c.name(), c.kind(), c.size(), c.depth(), c.created(), c.originId(),
                    c.originName(), c.root(), c.lineage() == 0 && c.originId() == 0 ? c.id() : c.lineage());
            v.mapped = mapped;
            e.volumes.put(c.name(), v);
        }
        return e;
    }

    /**
     * Keeps the blocks that only generation G - 1 references from being reused before commit
     * G + 1 is durable, so G - 1 stays a valid fallback across a reopen (as it is within a
     * session). Best effort: a part of G - 1 that does not verify is simply not protected.
     */
    private void protectPrevious(Engine e, Superblock previous) {
        try {
            long block = previous.catalogBlock();
            for (long i = 0; i < previous.catalogBlocks() && block != 0; i++) {
                ByteBuffer b = readBlock(e, block);
                MetaBlock.Header h = MetaBlock.verify(name, b, block, MetaBlock.TYPE_CATALOG, 0, e.tag,
                        previous.generation());
                e.space.holdAsPending(block, e.committedGen);
                for (int k = 0; k < Math.min(h.count(), e.catalogPerBlock()); k++) {
                    CatalogEntry c = CatalogEntry.decode(name, block, b, MetaBlock.HEADER + k * CatalogEntry.SIZE);
                    if (c.root() != 0 && c.depth() <= Names.MAX_DEPTH) {
                        if (e.nodes.containsKey(c.root()) && !sameRoot(e, c)) {
                            // G - 1 reaches a node G keeps by another path: never overwrite below it in place
                            e.space.pin(c.root(), e.committedGen);
                        }
                        protectNode(e, previous, c.root(), c.depth() - 1, 0);
                    }
                }
                block = h.next();
            }
        } catch (IOException | RuntimeException unusable) {
            // the rest of generation G - 1 does not verify; nothing more to protect
        }
    }

    private static boolean sameRoot(Engine e, CatalogEntry c) {
        for (Volume v : e.volumes.values()) {
            if (v.id == c.id()) {
                return v.root == c.root() && v.depth == c.depth();
            }
        }
        return false;
    }

    /**
     * Holds the blocks of a G - 1 subtree that G does not share (a node G shares is identical), and
     * rebuilds the pins of the session that made G: a block G still references that this G - 1-only
     * node reaches is pinned until commit G + 1 is durable, so it is never overwritten in place
     * while G - 1 may still be the fallback.
     */
    private void protectNode(Engine e, Superblock previous, long block, int level, int guard) throws IOException {
        if (!e.space.inDataArea(block) || e.nodes.containsKey(block) || guard > Names.MAX_DEPTH) {
            return;
        }
        ByteBuffer b = readBlock(e, block);
        MetaBlock.verify(name, b, block, MetaBlock.TYPE_MAP, level, e.tag, previous.generation());
        e.space.holdAsPending(block, e.committedGen);
        for (int i = 0; i < e.fanout; i++) {
            long child = b.getLong(MetaBlock.HEADER + 8 * i) & MetaBlock.ENTRY_BLOCK;
            if (child == 0) {
                continue;
            }
            if (!e.space.inDataArea(child)) {
                continue;
            }
            if (level > 0) {
                if (e.nodes.containsKey(child)) {
                    e.space.pin(child, e.committedGen);
                }
                protectNode(e, previous, child, level - 1, guard + 1);
            } else if (e.space.rc(child) == 0) {
                e.space.holdAsPending(child, e.committedGen);
            } else {
                e.space.pin(child, e.committedGen);
            }
        }
    }

    private List<CatalogEntry> readCatalog(Engine e, Superblock sb) throws IOException {
        List<CatalogEntry> out = new ArrayList<>();
        long block = sb.catalogBlock();
        int per = e.catalogPerBlock();
        for (long i = 0; i < sb.catalogBlocks(); i++) {
            if (!e.space.inDataArea(block) || e.space.rc(block) != 0) {
                throw new CorruptPoolException(name, block, "catalog chain link " + i + " points at block " + block
                        + ", outside the data area or already used");
            }
            ByteBuffer b = readBlock(e, block);
            MetaBlock.Header h = MetaBlock.verify(name, b, block, MetaBlock.TYPE_CATALOG, 0, e.tag, sb.generation());
            if (h.count() < 0 || h.count() > per) {
                throw new CorruptPoolException(name, block, "catalog block holds " + h.count()
                        + " records, at most " + per + " fit");
            }
            for (int k = 0; k < h.count(); k++) {
                out.add(CatalogEntry.decode(name, block, b, MetaBlock.HEADER + k * CatalogEntry.SIZE));
            }
            e.space.setRc(block, 1);
            e.catalog.add(block);
            catalogBlocks.add(block);
            boolean last = i == sb.catalogBlocks() - 1;
            if (last != (h.next() == 0)) {
                throw new CorruptPoolException(name, block, "catalog chain has next=" + h.next() + " at link " + i
                        + " of " + sb.catalogBlocks());
            }
            block = h.next();
        }
        if (out.size() != sb.volumeCount()) {
            throw new CorruptPoolException(name, sb.catalogBlock(), "catalog holds " + out.size()
                    + " records, superblock says " + sb.volumeCount());
        }
        return out;
    }

    private ByteBuffer readBlock(Engine e, long block) throws IOException {
        ByteBuffer b = MetaBlock.allocate(e.blockSize);
        device.read(b, block * e.blockSize);
        return b.clear();
    }

    /** Mapped data blocks under each node walked (a shared node's count is reused, not recounted). */
    private final java.util.Map<Long, Long> mappedUnder = new java.util.HashMap<>();
    private final Set<Long> catalogBlocks = new HashSet<>();

    /**
     * Walks node {@code block} at {@code level}, covering logical blocks from {@code firstLb}, and
     * returns the data blocks mapped under it.
     */
    private long visit(Engine e, Superblock sb, CatalogEntry vol, long block, int level, long firstLb)
            throws IOException {
        if (!e.space.inDataArea(block)) {
            throw new CorruptPoolException(name, block, "map of '" + vol.name() + "' points at block " + block
                    + " at level " + level + ", outside the data area " + e.space.first() + ".."
                    + (e.space.total() - 1));
        }
        Node known = e.nodes.get(block);
        if (known != null) {
            if (known.level != level) {
                throw new CorruptPoolException(name, block, "node is referenced at level " + level
                        + " but holds level " + known.level);
            }
            e.space.incRef(block);
            return mappedUnder.getOrDefault(block, 0L);
        }
        if (e.space.rc(block) != 0) {
            throw new CorruptPoolException(name, block, "map of '" + vol.name() + "' uses block " + block
                    + " as a level-" + level + " node, but it is already used as data or catalog");
        }
        ByteBuffer b = readBlock(e, block);
        MetaBlock.Header h = MetaBlock.verify(name, b, block, MetaBlock.TYPE_MAP, level, e.tag, sb.generation());
        if (h.count() != e.fanout || h.next() != 0) {
            throw new CorruptPoolException(name, block, "map node count " + h.count() + " / next " + h.next()
                    + ", expected " + e.fanout + " / 0");
        }
        long[] entries = new long[e.fanout];
        b.order(ByteOrder.LITTLE_ENDIAN).position(MetaBlock.HEADER).asLongBuffer().get(entries);
        Node n = new Node(block, level, h.owner(), entries, false);
        e.nodes.put(block, n);
        e.space.setRc(block, 1);
        long volumeBlocks = (vol.size() + e.blockSize - 1) / e.blockSize;
        long mapped = 0;
        for (int i = 0; i < e.fanout; i++) {
            long entry = entries[i];
            if (entry == 0) {
                continue;
            }
            long lb = firstLb + Engine.satMul(i, e.pow[level]);
            long allowed = level == 0 ? MetaBlock.ENTRY_BLOCK | MetaBlock.ENTRY_ZEROED : MetaBlock.ENTRY_BLOCK;
            if ((entry & ~allowed) != 0 || lb >= volumeBlocks || lb < 0) {
                throw new CorruptPoolException(name, block, "entry " + i + " = 0x" + Long.toHexString(entry)
                        + " has reserved bits set or maps logical block " + lb + " beyond the volume's "
                        + volumeBlocks + " blocks");
            }
            long child = entry & MetaBlock.ENTRY_BLOCK;
            if (level > 0) {
                mapped += visit(e, sb, vol, child, level - 1, lb);
            } else {
                mapped++;
                if (!e.space.inDataArea(child)) {
                    throw new CorruptPoolException(name, block, "entry " + i + " points at data block " + child
                            + ", outside the data area " + e.space.first() + ".." + (e.space.total() - 1));
                }
                if (e.nodes.containsKey(child) || catalogBlocks.contains(child)) {
                    throw new CorruptPoolException(name, block, "entry " + i + " uses block " + child
                            + " as data, but it is a map node or catalog block");
                }
                if (e.space.rc(child) == 0) {
                    e.space.setRc(child, 1);
                } else {
                    e.space.incRef(child);
                }
            }
        }
        mappedUnder.put(block, mapped);
        return mapped;
    }
}

package dev.volumes.pool;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The pool engine: the in-memory picture of the newest tree (every map node is resident), the
 * allocator, and the copy-on-write rules. {@link DataPath} does volume I/O and {@link Committer}
 * makes the picture durable.
 *
 * <h2>Locking</h2>
 * <ul>
 *   <li>{@code meta} (read/write) guards nodes, roots, the catalog and {@link Space}. It is held
 *       only for in-memory work (lookups, planning, publishing, freezing a commit), never across
 *       device I/O, except by {@link Pool#check()} which holds {@code commitLock} instead.</li>
 *   <li>{@code commitLock} serializes commits; a commit holds {@code meta} only while it
 *       freezes the dirty nodes into buffers.</li>
 *   <li>Per-volume locks: see {@link Volume}. Order: volume rw, then stripes, then meta.</li>
 *   <li>{@code meta} and {@code commitLock} are fair: a stream of writers must not starve lookups,
 *       and a client syncing in a loop must not starve another client's sync (seen as a 3-minute
 *       stall in {@code PoolStressTest} with unfair locks).</li>
 * </ul>
 *
 * <h2>Copy-on-write rules (dm-thin style reference counts)</h2>
 * A node or data block's count is the number of parent pointers (roots, interior entries, leaf
 * entries) that reference it. A node is changed in place only if it is dirty and its count is 1;
 * otherwise it is shadowed: copied to a new block; if it was shared (count &gt; 1) every child
 * gets +1 and the old node -1 and is pinned; if it was exclusive its children are transferred to
 * the copy and the old block is freed (deferred), and if it was pinned its children are pinned.
 * A data block is overwritten in place only if every node on its path is exclusive and unpinned
 * and the block itself has count 1 and is unpinned; otherwise the write goes to a new block
 * (copy of the old content, or zeros, merged with the new bytes) published after its data landed.
 */
final class Engine {

    final Device device;
    /** The backing device is read-only (an OCI image, a read-only file): the pool refuses every change. */
    final boolean readOnly;
    final int blockSize;
    final int fanout;
    final UUID uuid;
    final long tag;
    final String label;
    final long createdMillis;
    final long reserveBlocks;
    final Space space;
    final long[] pow;
    /** Lifecycle edits of the maps (drop, truncate, deepen, range walks). */
    final MapEdits edits = new MapEdits(this);

    final ReentrantReadWriteLock meta = new ReentrantReadWriteLock(true); // fair: writers must not starve lookups
    final ReentrantLock commitLock = new ReentrantLock(true); // fair: a busy syncer must not starve others

    // guarded by meta
    final NodeTable nodes = new NodeTable();
    final List<Node> dirty = new ArrayList<>();
    final Map<String, Volume> volumes = new LinkedHashMap<>();
    final Map<Long, Set<Volume>> drains = new HashMap<>();
    List<Long> catalog = new ArrayList<>();
    boolean catalogDirty;
    long nextVolumeId;
    long txn;
    long committedGen;
    boolean commitInFlight;
    long releasing;

    /** Volumes being imported: not in the catalog yet, but their blocks are live (check walks them). */
    final Set<Volume> hidden = new HashSet<>();

    // runtime options (PoolOptions), set once after construction
    double lowSpaceThreshold = PoolOptions.DEFAULT_LOW_SPACE_THRESHOLD;
    LowSpaceListener lowSpaceListener;
    boolean discardFreed = true;
    private boolean lowSpaceFired; // guarded by meta

    private volatile IOException failure;
    private volatile boolean closed;

    Engine(Device device, int blockSize, UUID uuid, String label, long createdMillis, long totalBlocks,
            long reserveBlocks, long committedGen, long nextVolumeId) {
        this.device = device;
        this.readOnly = device.capabilities().readOnly();
        this.blockSize = blockSize;
        this.fanout = MetaBlock.fanout(blockSize);
        this.uuid = uuid;
        this.tag = MetaBlock.poolTag(uuid);
        this.label = label;
        this.createdMillis = createdMillis;
        this.reserveBlocks = reserveBlocks;
        this.space = new Space(Superblock.firstDataBlock(blockSize), totalBlocks);
        this.committedGen = committedGen;
        this.txn = committedGen + 1;
        this.nextVolumeId = nextVolumeId;
        this.pow = new long[Names.MAX_DEPTH + 1];
        pow[0] = 1;
        for (int i = 1; i < pow.length; i++) {
            pow[i] = satMul(pow[i - 1], fanout);
        }
    }

    static long satMul(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return hi != 0 || lo < 0 ? Long.MAX_VALUE : lo;
    }

    /** Map levels needed for a volume of {@code size} bytes. */
    int depthFor(long size) {
        long blocks = (size + blockSize - 1) / blockSize;
        int d = 1;
        while (d < Names.MAX_DEPTH && pow[d] < blocks) {
            d++;
        }
        if (pow[d] < blocks) {
            throw new IllegalArgumentException("volume size " + size + " needs more than " + Names.MAX_DEPTH
                    + " map levels at block size " + blockSize);
        }
        return d;
    }

    int index(long lb, int level) {
        return (int) ((lb / pow[level]) % fanout);
    }

    /** Catalog records per block. */
    int catalogPerBlock() {
        return (blockSize - MetaBlock.HEADER) / CatalogEntry.SIZE;
    }

    long catalogBlocksFor(long volumeCount) {
        return Math.max(1, (volumeCount + catalogPerBlock() - 1) / catalogPerBlock());
    }

    // ---------------------------------------------------------------- state checks

    void ensureWritable(String what) throws IOException {
        if (closed) {
            throw new DeviceClosedException(device.name(), what);
        }
        if (readOnly) {
            throw new ReadOnlyDeviceException(device.name(), what + " (the pool's backing device is read-only)");
        }
        IOException f = failure;
        if (f != null) {
            throw new IOException(what + " refused: the pool on '" + device.name()
                    + "' stopped after an earlier failure (" + f.getMessage() + "); reopen it to recover", f);
        }
    }

    void ensureOpen(String what) throws DeviceClosedException {
        if (closed) {
            throw new DeviceClosedException(device.name(), what);
        }
    }

    void fail(IOException e) {
        if (failure == null) {
            failure = e;
        }
    }

    IOException failure() {
        return failure;
    }

    boolean closed() {
        return closed;
    }

    void markClosed() {
        closed = true;
    }

    // ---------------------------------------------------------------- space (meta held)

    /** Blocks ordinary allocations may still take. Meta held. */
    long available() {
        return space.free() - heldBack();
    }

    /** Blocks held back: reservations, the lifecycle reserve and the next commit's catalog. */
    long heldBack() {
        long catalogNeed = catalogBlocksFor(volumes.size());
        long commitHeld = commitInFlight ? Math.max(0, catalogNeed - releasing) : catalogNeed;
        return space.reserved() + reserveBlocks + commitHeld;
    }

    void freeRef(long block, Volume freedBy) {
        if (space.decRef(block) == 0) {
            space.deferFree(block, txn);
        } else {
            space.pin(block, txn);
        }
        // A reader of freedBy may have looked the block up before this drop and still be reading
        // it. Drain freedBy for every drop, not only the last one: a clone's reader can outlive
        // the clone's drop and the origin's later, final drop (FreedBlockReaderTest). Drains of
        // transaction t run before the frees of any transaction >= t are released.
        if (freedBy != null) {
            drains.computeIfAbsent(txn, t -> new HashSet<>()).add(freedBy);
        }
    }

    /** Applies the runtime options (threshold, listener, discard of freed blocks). */
    void apply(PoolOptions o) {
        lowSpaceThreshold = o.lowSpaceThreshold();
        lowSpaceListener = o.lowSpaceListener();
        discardFreed = o.discardFreed();
    }

    /** Identity and space accounting. Meta (read) held. */
    PoolInfo info() {
        long total = space.total();
        long free = space.free();
        long available = Math.max(0, available());
        return new PoolInfo(uuid, label, Superblock.VERSION, blockSize, total, total - free, available,
                free - available, committedGen);
    }

    /**
     * Whether the used fraction of the data area just crossed the low-space threshold upwards
     * (fires once; re-armed when it falls back below). Meta (write) held.
     */
    boolean lowSpaceCrossed() {
        long area = space.total() - space.first();
        double used = area <= 0 ? 1 : (double) (area - space.free()) / area;
        if (used >= lowSpaceThreshold) {
            if (!lowSpaceFired) {
                lowSpaceFired = true;
                return true;
            }
        } else {
            lowSpaceFired = false;
        }
        return false;
    }

    private static final System.Logger LOG = System.getLogger(Engine.class.getName());

    /** Logs the warning and calls the listener; called without any pool lock held. */
    void fireLowSpace() {
        PoolInfo i;
        meta.readLock().lock();
        try {
            i = info();
        } finally {
            meta.readLock().unlock();
        }
        // formatted here (it is rare), so the numbers carry no locale-dependent grouping
        LOG.log(System.Logger.Level.WARNING, "pool '" + device.name() + "' is low on space: " + i.usedBytes() + " of "
                + i.totalBytes() + " bytes used, " + i.freeBytes() + " free (threshold " + lowSpaceThreshold + ")");
        LowSpaceListener l = lowSpaceListener;
        if (l != null) {
            try {
                l.lowSpace(i);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "low-space listener failed", e);
            }
        }
    }

    // ---------------------------------------------------------------- tree (meta held)

    /** The leaf entry for logical block {@code lb}, 0 for a hole. Meta (read) held. */
    long lookup(Volume v, long lb) {
        long cur = v.root;
        for (int level = v.depth - 1; level >= 0 && cur != 0; level--) {
            cur = nodes.get(cur & MetaBlock.ENTRY_BLOCK).entries[index(lb, level)];
        }
        return cur;
    }

    /** {@link #placement}: the write needs a new block (hole, shared or pinned path or block). */
    static final int FRESH = 0;
    /** {@link #placement}: the mapped data block may be overwritten in place. */
    static final int IN_PLACE = 1;
    /**
     * {@link #placement}: the entry is ZEROED and its block may be written in place, zero-filling
     * what the write does not cover; publishing then clears the ZEROED bit (a map change).
     */
    static final int IN_PLACE_ZEROED = 2;

    /**
     * Where a write to {@code lb} may land: in place only if every node on the path and the
     * block itself are exclusive and unpinned. Meta held.
     */
    int placement(Volume v, long lb) {
        long cur = v.root;
        for (int level = v.depth - 1; level >= 0; level--) {
            if (cur == 0 || space.rc(cur) != 1 || space.pinned(cur)) {
                return FRESH;
            }
            cur = nodes.get(cur).entries[index(lb, level)];
        }
        if (cur == 0) {
            return FRESH;
        }
        long b = cur & MetaBlock.ENTRY_BLOCK;
        if (space.rc(b) != 1 || space.pinned(b)) {
            return FRESH;
        }
        return (cur & MetaBlock.ENTRY_ZEROED) != 0 ? IN_PLACE_ZEROED : IN_PLACE;
    }

    /** Whether a write to {@code lb} may overwrite mapped (not ZEROED) data in place. Meta held. */
    boolean inPlace(Volume v, long lb) {
        return placement(v, lb) == IN_PLACE;
    }

    /**
     * Whether {@code lb} is mapped and owned by {@code v} alone: every node on its path and the
     * block have count 1. Pins do not matter here: the caller changes only the entry (marks it
     * ZEROED), never the block's bytes. Meta held.
     */
    boolean exclusive(Volume v, long lb) {
        long cur = v.root;
        for (int level = v.depth - 1; level >= 0; level--) {
            if (cur == 0 || space.rc(cur) != 1) {
                return false;
            }
            cur = nodes.get(cur).entries[index(lb, level)];
        }
        return cur != 0 && space.rc(cur & MetaBlock.ENTRY_BLOCK) == 1;
    }

    /** Worst-case nodes to create or shadow for writes to the given ascending logical blocks. */
    long nodesNeeded(Volume v, long[] lbs, int count) {
        PathCounter c = new PathCounter(v.depth);
        for (int i = 0; i < count; i++) {
            c.add(lbs[i]);
        }
        return c.count();
    }

    /**
     * Counts the distinct map nodes on the paths of ascending logical blocks, one block at a
     * time (no list of blocks needed): the worst case of nodes a change of those entries creates
     * or shadows.
     */
    final class PathCounter {
        private final long[] last;
        private long count;

        PathCounter(int depth) {
            last = new long[depth];
            java.util.Arrays.fill(last, -1);
        }

        void add(long lb) {
            for (int level = 0; level < last.length; level++) {
                long id = lb / span(level);
                if (id != last[level]) {
                    count++;
                    last[level] = id;
                }
            }
        }

        /** As {@link #add} for every block of {@code [from, to)} (ascending, after earlier blocks), in O(depth). */
        void addRun(long from, long to) {
            if (from >= to) {
                return;
            }
            for (int level = 0; level < last.length; level++) {
                long span = span(level);
                long firstId = from / span;
                long lastId = (to - 1) / span;
                count += lastId - firstId + 1 - (firstId == last[level] ? 1 : 0);
                last[level] = lastId;
            }
        }

        private long span(int level) {
            return level + 1 < pow.length ? pow[level + 1] : Long.MAX_VALUE;
        }

        long count() {
            return count;
        }
    }

    /**
     * Sets the leaf entry of {@code lb} to {@code value}, shadowing the path with blocks from the
     * caller's reservation, and returns the old entry (whose reference the caller now owns).
     */
    long setEntry(Volume v, long lb, long value) {
        Node parent = null;
        int parentIndex = -1;
        long cur = v.root;
        for (int level = v.depth - 1; level >= 0; level--) {
            Node n = cur == 0 ? newNode(level, v.id) : writable(nodes.get(cur), v.id);
            if (parent == null) {
                if (v.root != n.block) {
                    v.root = n.block;
                    catalogDirty = true;
                }
            } else {
                parent.entries[parentIndex] = n.block;
            }
            parent = n;
            parentIndex = index(lb, level);
            cur = n.entries[parentIndex];
        }
        long old = parent.entries[parentIndex];
        parent.entries[parentIndex] = value;
        return old;
    }

    Node newNode(int level, long owner) {
        long b = space.allocateReserved();
        Node n = new Node(b, level, owner, new long[fanout], true);
        nodes.put(b, n);
        dirty.add(n);
        return n;
    }

    Node writable(Node n, long owner) {
        int r = space.rc(n.block);
        if (n.dirty && r == 1) {
            return n;
        }
        long b = space.allocateReserved();
        Node copy = new Node(b, n.level, owner, n.entries.clone(), true);
        nodes.put(b, copy);
        dirty.add(copy);
        if (r == 1) {
            boolean pinned = space.pinned(n.block);
            space.decRef(n.block);
            space.deferFree(n.block, txn);
            nodes.remove(n.block);
            if (pinned) {
                for (long e : n.entries) {
                    if (e != 0) {
                        space.pin(e & MetaBlock.ENTRY_BLOCK, txn);
                    }
                }
            }
        } else {
            for (long e : n.entries) {
                if (e != 0) {
                    space.incRef(e & MetaBlock.ENTRY_BLOCK);
                }
            }
            space.decRef(n.block);
            space.pin(n.block, txn);
        }
        return copy;
    }

    /** Bytes of data blocks mapped by a volume (walks its map). Meta held. */
    long mappedBlocks(Volume v) {
        return v.root == 0 ? 0 : countLeaves(v.root, v.depth - 1);
    }

    private long countLeaves(long block, int level) {
        long n = 0;
        Node node = nodes.get(block);
        if (node == null) {
            return 0; // a dangling pointer: check reports it
        }
        for (long e : node.entries) {
            if (e != 0) {
                n += level == 0 ? 1 : countLeaves(e, level - 1);
            }
        }
        return n;
    }

    NoSpaceException noSpace(String deviceName, String operation, long needed) {
        return new NoSpaceException(deviceName, operation, needed, Math.max(0, available()), "pool blocks of "
                + blockSize + " bytes (pool '" + device.name() + "', " + space.free() + " free, " + heldBack()
                + " held back for commits and the reserve)");
    }
}

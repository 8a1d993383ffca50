package dev.volumes.pool;

import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The in-memory state of one named volume, snapshot or clone. Identity fields are final;
 * {@code root} is guarded by the engine's metadata lock.
 *
 * <p>Locks: {@code rw} is shared by reads and writes and taken exclusively by snapshot/clone
 * (so a snapshot never sees a half-landed write) and by the free-drain after a commit. The
 * {@code stripes} serialize writers of the same logical block (a writer holds the stripes of
 * every block it touches, taken in ascending stripe order), so two writes into one block never
 * race their read-copy-publish steps.
 */
final class Volume {

    static final int STRIPES = 64;

    final long id;
    final String name;
    final VolumeKind kind;
    /** Logical size; changed only by resize, under {@code rw} (exclusive) and the metadata lock. */
    volatile long size;
    /** Map levels; grows with resize, under {@code rw} (exclusive) and the metadata lock. */
    volatile int depth;
    final Instant created;
    final long originId;
    final String originName;
    /** Id of the first volume of this line (the one created empty or imported); 0 if unknown. */
    final long lineage;
    final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
    /** Null for snapshots, which are never written (saves 64 locks per snapshot). */
    final ReentrantLock[] stripes;
    /** Open {@link VolumeDevice} handles; delete refuses while positive (metadata lock). */
    final java.util.concurrent.atomic.AtomicInteger handles = new java.util.concurrent.atomic.AtomicInteger();
    long root;
    /** Data blocks mapped (shared ones included); guarded by the metadata lock. */
    long mapped;

    Volume(long id, String name, VolumeKind kind, long size, int depth, Instant created, long originId,
            String originName, long root, long lineage) {
        this.id = id;
        this.name = name;
        this.kind = kind;
        this.size = size;
        this.depth = depth;
        this.created = created;
        this.originId = originId;
        this.originName = originName;
        this.lineage = lineage;
        this.root = root;
        this.stripes = kind.readOnly() ? null : new ReentrantLock[STRIPES];
        for (int i = 0; stripes != null && i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    CatalogEntry entry() {
        return new CatalogEntry(id, originId, root, size, created, kind, depth, name, originName, lineage);
    }

    Optional<String> origin() {
        return originName.isEmpty() ? Optional.empty() : Optional.of(originName);
    }
}

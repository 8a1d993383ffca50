package dev.volumes.pool;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * A description of one volume, snapshot or clone, as of the moment it was taken.
 *
 * @param name the unique name in the pool
 * @param kind volume, snapshot or clone
 * @param size logical size in bytes
 * @param allocatedBytes bytes of pool blocks mapped by this volume (shared blocks counted in
 *     full for every volume that maps them)
 * @param origin the name of the volume this one was snapshotted or cloned from, as it was named
 *     then; empty for volumes created empty
 * @param created when it was created (wall clock of the creating process)
 * @param originDeleted whether the origin has been deleted since (its name is kept for lineage;
 *     the blocks this volume shares with it stay, counted by reference)
 */
public record VolumeInfo(String name, VolumeKind kind, long size, long allocatedBytes, Optional<String> origin,
        Instant created, boolean originDeleted) {

    /** A description whose origin (if any) still exists. */
    public VolumeInfo(String name, VolumeKind kind, long size, long allocatedBytes, Optional<String> origin,
            Instant created) {
        this(name, kind, size, allocatedBytes, origin, created, false);
    }

    public VolumeInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(origin, "origin");
        Objects.requireNonNull(created, "created");
        if (size < 0 || allocatedBytes < 0) {
            throw new IllegalArgumentException("negative size " + size + " or allocation " + allocatedBytes);
        }
    }
}

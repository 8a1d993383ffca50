package dev.volumes.cli;

/**
 * A volume, snapshot or clone as the CLI prints it (table and {@code --json}) and as the control
 * API carries it.
 *
 * @param name volume name
 * @param kind {@code volume}, {@code snapshot} or {@code clone}
 * @param size logical size in bytes
 * @param allocatedBytes bytes of pool space mapped by it
 * @param origin what it was snapshotted or cloned from, or null
 * @param created creation time, ISO-8601
 * @param export the NBD export name when a daemon serves it, or null
 * @param usage mapped, exclusive and shared bytes ({@code volume info} only; absent from listings)
 * @param originDeleted whether the origin has been deleted since (its name is kept for lineage)
 */
record VolumeView(String name, String kind, long size, long allocatedBytes, String origin, String created,
        String export, @com.fasterxml.jackson.annotation.JsonInclude(
                com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL) LifecycleViews.Usage usage,
        boolean originDeleted) {

    VolumeView(String name, String kind, long size, long allocatedBytes, String origin, String created, String export) {
        this(name, kind, size, allocatedBytes, origin, created, export, null, false);
    }

    VolumeView withUsage(LifecycleViews.Usage usage) {
        return new VolumeView(name, kind, size, allocatedBytes, origin, created, export, usage, originDeleted);
    }

    /** The origin as a table shows it: {@code -}, the name, or {@code NAME (deleted)}. */
    String originText() {
        return origin == null ? "-" : originDeleted ? origin + " (deleted)" : origin;
    }
}

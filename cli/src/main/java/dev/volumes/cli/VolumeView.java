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
 */
record VolumeView(String name, String kind, long size, long allocatedBytes, String origin, String created,
        String export, @com.fasterxml.jackson.annotation.JsonInclude(
                com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL) LifecycleViews.Usage usage) {

    VolumeView(String name, String kind, long size, long allocatedBytes, String origin, String created, String export) {
        this(name, kind, size, allocatedBytes, origin, created, export, null);
    }

    VolumeView withUsage(LifecycleViews.Usage usage) {
        return new VolumeView(name, kind, size, allocatedBytes, origin, created, export, usage);
    }
}

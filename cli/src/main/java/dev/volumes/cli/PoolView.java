package dev.volumes.cli;

/**
 * A pool's identity and space as the CLI prints it and the control API carries it.
 *
 * @param path the pool file
 * @param uuid pool UUID
 * @param label user label (may be empty)
 * @param formatVersion on-disk format version
 * @param blockSize block size in bytes
 * @param totalBytes data capacity in bytes
 * @param usedBytes allocated bytes
 * @param freeBytes bytes still allocatable by writes
 * @param reservedBytes bytes held back so commits and deletes work on a full pool
 * @param generation last committed generation
 * @param volumes number of volumes, snapshots and clones
 */
record PoolView(String path, String uuid, String label, int formatVersion, int blockSize, long totalBytes,
        long usedBytes, long freeBytes, long reservedBytes, long generation, int volumes) {}

package dev.volumes.replica;

/**
 * Progress of a running rebuild, reported after each copied chunk.
 *
 * @param replica the target
 * @param doneBytes bytes copied so far
 * @param totalBytes bytes to copy in all
 * @param delta whether this is a delta rebuild
 */
public record RebuildProgress(String replica, long doneBytes, long totalBytes, boolean delta) {}

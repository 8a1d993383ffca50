package dev.volumes.cli;

import java.io.IOException;
import java.util.List;

/**
 * What the CLI commands do to a pool. Two implementations with identical behaviour: one that
 * opens the pool file directly ({@link LocalPoolService}) and one that asks a running daemon over
 * its control socket ({@link ControlClient}). Failures are {@link CliException}s with the exit
 * code to use, or {@link IOException}s (mapped by {@link Main}).
 */
interface PoolService extends java.io.Closeable {

    PoolView poolInfo() throws IOException;

    List<VolumeView> list() throws IOException;

    VolumeView info(String name) throws IOException;

    VolumeView createVolume(String name, long size) throws IOException;

    /** Takes a snapshot at a consistent point: writes in flight on {@code source} are drained first. */
    VolumeView snapshot(String source, String name) throws IOException;

    VolumeView cloneVolume(String source, String name) throws IOException;

    /** Walks the whole pool and reports every inconsistency. */
    CheckView check() throws IOException;

    /**
     * Deletes a volume, snapshot or clone ({@code snapshotOnly}: refuses anything but a snapshot).
     * A daemon removes its export first (connections using it are drained and closed).
     */
    VolumeView delete(String name, boolean snapshotOnly) throws IOException;

    /** Resizes a volume or clone online; a daemon's new connections see the new size at once. */
    VolumeView resize(String name, long size) throws IOException;

    /** Grows the pool to {@code backingSize} bytes (the backing is resized), or to the backing's current size if null. */
    PoolView grow(Long backingSize) throws IOException;

    /** Repairs what check finds and can fix safely; see {@link dev.volumes.pool.Pool#repair()}. */
    LifecycleViews.Repair repair() throws IOException;

    /** The byte ranges that may differ between two volumes of one lineage. */
    LifecycleViews.Diff diff(String older, String newer) throws IOException;

    /**
     * Writes volume {@code name} to the new sparse raw file {@code file} (an absolute path, written by
     * whoever holds the pool). A daemon exports a live volume or clone through a temporary snapshot.
     */
    VolumeView exportRaw(String name, java.nio.file.Path file, ProgressListener progress) throws IOException;

    /** Imports the raw file {@code file} (an absolute path) as the new volume {@code name}, in one commit. */
    VolumeView importRaw(java.nio.file.Path file, String name, ProgressListener progress) throws IOException;

    /**
     * Freezes {@code name} into the OCI image {@code image} ({@code [oci://]host/repo:tag}). A daemon
     * freezes a live volume or clone through a snapshot it takes first (named in the result's
     * {@code source}), so the image is one consistent point.
     */
    OciView freeze(String name, String image, ProgressListener progress) throws IOException;

    /**
     * Copies the image {@code image} into the pool as the new volume {@code name} (only its data
     * chunks are downloaded and written); on failure the partial volume is deleted. A daemon
     * exports it when complete.
     */
    VolumeView pull(String image, String name, ProgressListener progress) throws IOException;

    /** Exports the image {@code image} as {@code name}: read lazily, written through an overlay (daemon only). */
    VolumeView attach(String image, String name) throws IOException;

    /** Pushes the attached overlay {@code name}'s changes as the image {@code image} and rebases onto it (daemon only). */
    OciView commit(String name, String image, ProgressListener progress) throws IOException;

    /** Removes the attached overlay {@code name}'s export; its spill directory is kept unless {@code discard} (daemon only). */
    VolumeView detach(String name, boolean discard) throws IOException;

    @Override
    void close() throws IOException;
}

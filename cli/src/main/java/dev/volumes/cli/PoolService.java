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
     * Freezes {@code name} into the OCI image {@code image} ({@code [oci://]host/repo:tag}). A daemon
     * freezes a live volume or clone through a snapshot it takes first (named in the result's
     * {@code source}), so the image is one consistent point.
     */
    OciView freeze(String name, String image, ProgressListener progress) throws IOException;

    /** Exports the image {@code image} as {@code name}: read lazily, written through an overlay (daemon only). */
    VolumeView attach(String image, String name) throws IOException;

    /** Pushes the attached overlay {@code name}'s changes as the image {@code image} and rebases onto it (daemon only). */
    OciView commit(String name, String image, ProgressListener progress) throws IOException;

    /** Removes the attached overlay {@code name}'s export; its spill directory is kept unless {@code discard} (daemon only). */
    VolumeView detach(String name, boolean discard) throws IOException;

    @Override
    void close() throws IOException;
}

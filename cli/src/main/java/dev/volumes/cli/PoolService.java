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

    @Override
    void close() throws IOException;
}

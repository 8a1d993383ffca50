package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Entry point: builds a {@link ReplicatedDevice}.
 *
 * <pre>{@code
 * ReplicatedDevice dev = Replication.builder()
 *         .name("vol1")
 *         .replica("a", localServer.localConnector("vol1"))              // fenced in-process
 *         .replica("b", ReplicaConnector.nbd("10.0.0.2", 10809, "vol1"))  // fenced over NBD
 *         .replica("c", ReplicaConnector.nbdBuilder("10.0.0.3", 10809, "vol1")
 *                 .tls(NbdClientTls.fromDirectory(certs)).build())       // over NBD with TLS
 *         .mode(ReplicationMode.QUORUM)
 *         .term(7).writer("nodeA")
 *         .stateDir(Path.of("/var/lib/volumes/vol1.replication"))        // one per volume and node, for every term
 *         .writeTimeout(Duration.ofSeconds(5))
 *         .open();
 * }</pre>
 *
 * Every replica must be {@link #replicaSize(long) replicaSize(dataSize)} bytes: the replicated
 * device is {@link #HEADER_BYTES} smaller than its replicas.
 */
public final class Replication {

    /**
     * Bytes every replica reserves at its end for the replica header and the set's dirty bitmap
     * (64 KiB; docs/replication.md, "Replica header area"). The replicated device's size is the
     * replicas' size minus this.
     */
    public static final int HEADER_BYTES = ReplicaHeader.AREA;

    private Replication() {}

    /**
     * The size a replica (a pool volume, a file ...) must have to hold a replicated device of
     * {@code dataBytes}: {@code dataBytes + }{@link #HEADER_BYTES}.
     *
     * @throws IllegalArgumentException if {@code dataBytes} is not positive or the sum overflows
     */
    public static long replicaSize(long dataBytes) {
        if (dataBytes <= 0) {
            throw new IllegalArgumentException("data size must be positive: " + dataBytes);
        }
        if (dataBytes > Long.MAX_VALUE - HEADER_BYTES) {
            throw new IllegalArgumentException("data size " + dataBytes + " leaves no room for the "
                    + HEADER_BYTES + "-byte replica header area");
        }
        return dataBytes + HEADER_BYTES;
    }

    /** A new builder with defaults: mode {@code QUORUM}, write timeout 10 s, 1 MiB regions, no throttle. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Collects the configuration of a replica set. Not thread-safe; {@link #open()} may be called
     * once per builder.
     */
    public static final class Builder {
        private String name = "replicated";
        private final List<Config.Spec> replicas = new ArrayList<>();
        private ReplicationMode mode = ReplicationMode.QUORUM;
        private long term = -1;
        private String writer = "writer";
        private Duration writeTimeout = Duration.ofSeconds(10);
        private Path stateDir;
        private Config.StateOpener stateOpener;
        private long regionSize;
        private int chunkSize = 1 << 20;
        private long rebuildRate;
        private Consumer<RebuildProgress> progress;
        private String preferred;
        private boolean skipInitialSync;
        private Config.Pacer pacer = Config.Pacer.SYSTEM;

        private Builder() {}

        /** The device's name in messages. */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Adds a replica reached directly. Such a replica is <b>not</b> fenced by terms (nothing
         * stands between it and an old writer); use {@link ReplicaServer#localConnector} for a
         * fenced local replica.
         */
        public Builder replica(String id, Device device) {
            replicas.add(new Config.Spec(checkId(id), Objects.requireNonNull(device, "device"), null));
            return this;
        }

        /** Adds a term-fenced replica reached through {@code connector} (NBD or in-process). */
        public Builder replica(String id, ReplicaConnector connector) {
            replicas.add(new Config.Spec(checkId(id), null, Objects.requireNonNull(connector, "connector")));
            return this;
        }

        /** The ack rule; default {@link ReplicationMode#QUORUM}. */
        public Builder mode(ReplicationMode mode) {
            this.mode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** The writer's term (required, {@code >= 1}): higher terms fence lower ones. */
        public Builder term(long term) {
            if (term < 1) {
                throw new IllegalArgumentException("term must be >= 1, got " + term);
            }
            this.term = term;
            return this;
        }

        /** The writer's id recorded by replicas with its term (for messages); default "writer". */
        public Builder writer(String writer) {
            if (writer == null || writer.isEmpty() || writer.contains(";") || writer.contains("=")) {
                throw new IllegalArgumentException("writer id must be non-empty without ';' or '=': " + writer);
            }
            this.writer = writer;
            return this;
        }

        /** How long a replica may take for one request before it is dropped out; default 10 s. */
        public Builder writeTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("write timeout must be positive: " + timeout);
            }
            this.writeTimeout = timeout;
            return this;
        }

        /**
         * The directory holding this writer's durable state of the set ({@code replication.state}:
         * term, generation, per-replica state, dirty bitmap). Required. Created if missing.
         */
        public Builder stateDir(Path dir) {
            this.stateDir = Objects.requireNonNull(dir, "stateDir");
            return this;
        }

        /** Test hook: the state on a given device (for the crash simulator). */
        Builder stateDevice(Device device) {
            this.stateOpener = (dataSize, regionSize) -> device;
            return this;
        }

        /**
         * Bytes per dirty bit, a power of two from 64 KiB to 64 MiB; default 1 MiB, or larger
         * when the volume needs more than {@value ReplicaHeader#MAX_REGIONS} regions (the bitmap
         * must fit the replica header area).
         */
        public Builder regionSize(long bytes) {
            if (bytes < (64 << 10) || bytes > (64L << 20) || Long.bitCount(bytes) != 1) {
                throw new IllegalArgumentException("region size must be a power of two in [64 KiB, 64 MiB]: " + bytes);
            }
            this.regionSize = bytes;
            return this;
        }

        /** Bytes per rebuild copy step (held range), 4 KiB to 16 MiB; default 1 MiB. */
        public Builder rebuildChunk(int bytes) {
            if (bytes < 4096 || bytes > (16 << 20)) {
                throw new IllegalArgumentException("rebuild chunk must be in [4 KiB, 16 MiB]: " + bytes);
            }
            this.chunkSize = bytes;
            return this;
        }

        /**
         * Rebuild throttle in bytes per second; 0 (default) is unthrottled. It paces
         * {@link ReplicatedDevice#rebuild}, which runs beside live writes (and a brand-new set's
         * initial copy, once in the set's life). It does <b>not</b> pace the repair of the activity
         * log's dirty regions that every {@link #open()} does before it returns: no write is
         * accepted until that ends, so a throttle would only make every failover slower.
         */
        public Builder rebuildRate(long bytesPerSecond) {
            if (bytesPerSecond < 0) {
                throw new IllegalArgumentException("rebuild rate must be >= 0: " + bytesPerSecond);
            }
            this.rebuildRate = bytesPerSecond;
            return this;
        }

        /** Test hook: the rebuild throttle's clock and sleeper. */
        Builder rebuildPacer(Config.Pacer pacer) {
            this.pacer = Objects.requireNonNull(pacer, "pacer");
            return this;
        }

        /** Called on the rebuilding thread after each copied chunk. */
        public Builder rebuildProgress(Consumer<RebuildProgress> listener) {
            this.progress = listener;
            return this;
        }

        /** The replica reads prefer (the local one); default the first added. */
        public Builder preferred(String id) {
            this.preferred = checkId(id);
            return this;
        }

        /**
         * For a brand-new set whose replicas are all freshly created (all zeros): skip the initial
         * copy of the first replica onto the others.
         */
        public Builder skipInitialSync() {
            this.skipInitialSync = true;
            return this;
        }

        /**
         * Claims every reachable replica with the term (which fences older writers at those
         * replicas), reconciles the persisted state and returns the device.
         *
         * @throws FencedException if a replica, a replica header or this writer's state already
         *     holds a newer term
         * @throws IOException if the mode's requirement cannot be met (saying which replicas are
         *     out and why), sizes differ, or the state directory is unusable
         * @throws IllegalStateException if the configuration is incomplete
         */
        public ReplicatedDevice open() throws IOException {
            if (replicas.isEmpty()) {
                throw new IllegalStateException("no replicas configured");
            }
            if (term < 1) {
                throw new IllegalStateException("term(...) is required");
            }
            if (stateDir == null && stateOpener == null) {
                throw new IllegalStateException("stateDir(...) is required");
            }
            if (replicas.size() > StateRecord.MAX_MEMBERS) {
                throw new IllegalStateException("at most " + StateRecord.MAX_MEMBERS + " replicas");
            }
            Set<String> ids = new HashSet<>();
            for (Config.Spec s : replicas) {
                if (!ids.add(s.id())) {
                    throw new IllegalStateException("duplicate replica id " + s.id());
                }
            }
            if (preferred != null && !ids.contains(preferred)) {
                throw new IllegalStateException("preferred replica " + preferred + " is not configured");
            }
            mode.required(replicas.size());
            Config.StateOpener opener = stateOpener != null ? stateOpener : this::openStateFile;
            Config config = new Config(name, replicas, mode, term, writer, writeTimeout, opener, regionSize, chunkSize,
                    rebuildRate, progress, preferred != null ? preferred : replicas.getFirst().id(), skipInitialSync, pacer);
            return new Startup(config).open();
        }

        private Device openStateFile(long dataSize, long regionSize) throws IOException {
            Files.createDirectories(stateDir);
            Path file = stateDir.resolve("replication.state");
            long want = StateStore.deviceSize(dataSize, regionSize);
            if (Files.exists(file) && Files.size(file) != want) {
                Path old = stateDir.resolve("replication.state.old");
                Files.move(file, old, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            if (Files.exists(file)) {
                return FileDevice.open(file);
            }
            Device created = FileDevice.create(file, want);
            try {
                syncDirectory(stateDir); // the state (and the rename above) must survive power loss
            } catch (IOException e) {
                created.close();
                throw e;
            }
            return created;
        }

        private static String checkId(String id) {
            if (id == null || id.isEmpty() || id.length() > StateRecord.MAX_ID_BYTES || id.contains(";")) {
                throw new IllegalArgumentException("replica id must be 1.." + StateRecord.MAX_ID_BYTES
                        + " characters without ';': " + id);
            }
            return id;
        }
    }

    /** fsyncs directory {@code dir} so that files just created or renamed in it survive power loss. */
    static void syncDirectory(Path dir) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(dir,
                java.nio.file.StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}

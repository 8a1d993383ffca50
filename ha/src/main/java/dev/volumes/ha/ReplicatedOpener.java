package dev.volumes.ha;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.replica.FencedException;
import dev.volumes.replica.RebuildProgress;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.Replication;
import dev.volumes.replica.ReplicationMode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The storage fence of a replicated volume: the {@link TermEngine.Opener} a node runs to become
 * the writer of term t (docs/ha.md §6).
 *
 * <pre>{@code
 * ReplicatedOpener replication = ReplicatedOpener.builder()
 *         .volume("vol0").nodeId("node-a")
 *         .replica("a", localServer.localConnector("vol0"))
 *         .replica("b", ReplicaConnector.nbd("10.0.0.2", 10809, "vol0"))
 *         .replica("c", ReplicaConnector.nbd("10.0.0.3", 10809, "vol0"))
 *         .mode(ReplicationMode.QUORUM)
 *         .stateDir(Path.of("/var/lib/volumes/vol0.ha"))
 *         .build();
 * TermEngine engine = new TermEngine("vol0", size, replication.capabilities(), replication);
 * }</pre>
 *
 * <h2>What {@link #open}(t) does</h2>
 * <ol>
 *   <li><b>Pre-claims every replica at once</b> with t (all connectors concurrently, sessions
 *       closed again), so the deposed writer is cut off from all replicas at about the same
 *       instant; a {@link FencedException} from any replica (a newer term exists) fails the open.
 *       Unreachable replicas are left to the engine's open.</li>
 *   <li>Opens {@code Replication.builder()…term(t).writer(nodeId).stateDir(stateDir)}, which
 *       claims the replicas again (an equal term is accepted) and reconciles them. The same
 *       directory serves every term this node writes in (see below). Directories {@code term-<u>}
 *       left there by older versions, which kept a directory per term, are deleted first.</li>
 *   <li>Starts the <b>background rebuild</b> of the term: a virtual thread that rebuilds every
 *       {@code OUT_OF_SYNC} replica (throttled by {@code rebuildRate}, reported to the progress
 *       listener), looks again every {@code rebuildInterval}, and backs off (doubling up to 1
 *       min) while rebuilds fail. Closing the term's device (its release) stops it and waits for
 *       it: no thread outlives its term.</li>
 * </ol>
 * {@link #writeFailure} implements the write-failure health rule: the device cannot write when
 * the engine has failed stop — fenced, its state file failed, or too few replicas left in sync —
 * as {@link ReplicatedDevice#writeFailure()} reports (volatile reads: nothing is written or
 * probed).
 *
 * <p>Why one state directory serves every term: the engine counts its writer state file only
 * if the file's (term, generation) is not older than the freshest replica header it reads (docs/
 * replication.md, "When the state file counts"). A node deposed after it committed a drop-out
 * that never reached the replicas comes back with a file of its old term; once any successor
 * opened, the successor's term is on the headers of a majority (QUORUM: every open reads a
 * majority, so it sees one), so the file is ignored and the open relies on the headers alone —
 * what the per-term directories of older versions achieved by never having a state. If no
 * successor opened, the file and the freshest headers are of the same term, and within a term
 * the file is at least as new as the headers (committed before them): it can only mark out a
 * replica that could have stayed, never keep a stale one in.
 *
 * <p>That argument needs QUORUM's majority read. In {@code minInSync} modes an open may read
 * fewer replicas when the writer's own state is current, and a node's state from an earlier term
 * can look current on exactly the replicas a successor did not write (for instance one whose
 * header write failed at the successor's open) while the successor's acknowledged writes live
 * on replicas this node cannot reach. So in those modes the state file is deleted before each
 * term opens: every term starts from the replicas' headers alone, which in {@code minInSync}
 * needs every replica reachable — what the per-term directories of older versions gave.
 * (docs/ha.md §6.) Thread-safe.
 */
public final class ReplicatedOpener implements TermEngine.Opener {

    private static final System.Logger LOG = System.getLogger(ReplicatedOpener.class.getName());

    /** The engine's writer state file in its state directory (docs/replication.md §3). */
    private static final String STATE_FILE = "replication.state";

    /** What every {@link ReplicatedDevice} advertises (a test pins it against a real one). */
    private static final Capabilities CAPABILITIES =
            Capabilities.of(Capability.FUA, Capability.WRITE_ZEROES, Capability.DISCARD_READS_ZEROES);

    private final String volume;
    private final String nodeId;
    private final Map<String, ReplicaConnector> replicas;
    private final List<String> order;
    private final ReplicationMode mode;
    private final Path stateDir;
    /** The engine settings given to the builder, applied to every term's {@link Replication.Builder}. */
    private final List<Consumer<Replication.Builder>> engineSettings;
    private final Duration rebuildInterval;
    private final AtomicInteger liveRebuilds = new AtomicInteger();
    private volatile TermReplicas current;

    private ReplicatedOpener(Builder b) {
        this.volume = b.volume;
        this.nodeId = b.nodeId;
        this.replicas = Map.copyOf(b.replicas);
        this.mode = b.mode;
        this.stateDir = b.stateDir;
        this.engineSettings = List.copyOf(b.engineSettings);
        this.rebuildInterval = b.rebuildInterval;
        this.order = List.copyOf(b.replicas.keySet());
    }

    /** A new builder; volume, node id, at least one replica and the state directory are required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The volume's name. */
    public String volume() {
        return volume;
    }

    /** This node's id: the writer id the replicas record with each term. */
    public String nodeId() {
        return nodeId;
    }

    /** What the engine of every term advertises: give it to the {@link TermEngine}. */
    public Capabilities capabilities() {
        return CAPABILITIES;
    }

    /**
     * Claims the replicas for {@code term} and opens the replication engine (see the class
     * comment). The returned device's {@code close()} stops the term's background rebuild, then
     * closes the engine.
     *
     * @throws FencedException if a replica has promised a newer term
     * @throws IOException if the mode's requirement cannot be met or the state is unusable
     */
    @Override
    public ReplicatedDevice open(long term) throws IOException {
        if (term < 1) {
            throw new IllegalArgumentException("term must be >= 1: " + term);
        }
        preclaim(term);
        LegacyTermStates.remove(stateDir);
        if (!mode.isQuorum()) {
            forgetWriterState();
        }
        Replication.Builder b = Replication.builder().name(volume + "@" + nodeId).mode(mode).term(term)
                .writer(nodeId).stateDir(stateDir);
        engineSettings.forEach(setting -> setting.accept(b));
        for (String id : order) {
            b.replica(id, replicas.get(id));
        }
        ReplicatedDevice engine = b.open();
        TermReplicas t = new TermReplicas(engine, volume + "@" + nodeId + " term " + term, rebuildInterval,
                this::closed, liveRebuilds);
        current = t;
        t.startRebuilds();
        return t;
    }

    /**
     * In {@code minInSync} modes each term opens without this node's writer state, as the
     * per-term directories of older versions did (see the class comment for why QUORUM keeps it).
     */
    private void forgetWriterState() throws IOException {
        Path file = stateDir.resolve(STATE_FILE);
        if (Files.deleteIfExists(file)) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: {1} mode: the next term opens without the writer state of"
                    + " earlier terms", volume, mode);
        }
    }

    private void closed(TermReplicas t) {
        if (current == t) {
            current = null;
        }
    }

    /**
     * The write-failure health rule: why {@code device} (opened here) can no longer write — the
     * engine's {@link ReplicatedDevice#writeFailure()} (fenced, state commit failed, below the
     * mode's requirement) — or empty if it can. A closed device (released) is not a failure, nor
     * is a device this opener did not open. Volatile reads only: cheap enough to poll.
     */
    @Override
    public Optional<String> writeFailure(Device device) {
        if (!(device instanceof TermReplicas t) || t.isClosed()) {
            return Optional.empty();
        }
        return t.writeFailure().map(e -> e.getMessage() != null ? e.getMessage() : e.toString());
    }

    /** Every replica's state in the open term on this node (empty if none is open), for metrics. */
    public List<ReplicaStatus> replicaStatus() {
        TermReplicas t = current;
        return t == null ? List.of() : t.status();
    }

    /** The term whose engine is open on this node, or 0. */
    public long openTerm() {
        TermReplicas t = current;
        return t == null ? 0 : t.term();
    }

    /** Background rebuild threads still running (test hook: they end with their term). */
    int runningRebuilds() {
        return liveRebuilds.get();
    }

    private void preclaim(long term) throws IOException {
        List<Thread> claims = new ArrayList<>();
        List<FencedException> fenced = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (String id : order) {
            ReplicaConnector c = replicas.get(id);
            claims.add(Thread.ofVirtual().name("ha-preclaim-" + volume + "-" + id).start(() -> {
                try {
                    c.connect(term, nodeId).close();
                } catch (FencedException e) {
                    fenced.add(e);
                } catch (IOException | RuntimeException e) {
                    // unreachable: the engine's open decides whether enough are left
                }
            }));
        }
        for (Thread t : claims) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("pre-claim of term " + term + " of " + volume + " interrupted");
            }
        }
        if (!fenced.isEmpty()) {
            throw new FencedException("pre-claim of term " + term + " of " + volume, fenced.getFirst());
        }
    }

    @Override
    public String toString() {
        return "ReplicatedOpener[" + volume + "@" + nodeId + ", " + mode + ", replicas " + order + "]";
    }

    /** Collects the configuration. Not thread-safe. */
    public static final class Builder {
        private String volume;
        private String nodeId;
        private final Map<String, ReplicaConnector> replicas = new LinkedHashMap<>();
        private ReplicationMode mode = ReplicationMode.QUORUM;
        private Path stateDir;
        private final List<Consumer<Replication.Builder>> engineSettings = new ArrayList<>();
        /** Checks each engine setting when it is given, with the engine builder's own rules. */
        private final Replication.Builder settingsCheck = Replication.builder();
        private Duration rebuildInterval = Duration.ofSeconds(5);
        private String preferred;

        private Builder() {}

        private Builder engine(Consumer<Replication.Builder> setting) {
            setting.accept(settingsCheck); // throws IllegalArgumentException as the engine would
            engineSettings.add(setting);
            return this;
        }

        /** The volume's name, in messages and thread names (required). */
        public Builder volume(String name) {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("volume name is blank");
            }
            this.volume = name;
            return this;
        }

        /** This node's id, recorded by the replicas as the writer of its terms (required). */
        public Builder nodeId(String id) {
            if (id == null || id.isEmpty() || id.contains(";") || id.contains("=")) {
                throw new IllegalArgumentException("node id must be non-empty without ';' or '=': " + id);
            }
            this.nodeId = id;
            return this;
        }

        /** Adds a term-fenced replica (configuration order = read failover order). */
        public Builder replica(String id, ReplicaConnector connector) {
            if (id == null || id.isEmpty() || connector == null) {
                throw new IllegalArgumentException("a replica needs an id and a connector");
            }
            if (replicas.putIfAbsent(id, connector) != null) {
                throw new IllegalArgumentException("duplicate replica id " + id);
            }
            return this;
        }

        /** All replicas at once, in the map's iteration order. */
        public Builder replicas(Map<String, ReplicaConnector> all) {
            all.forEach(this::replica);
            return this;
        }

        /** The ack rule; default {@link ReplicationMode#QUORUM}. */
        public Builder mode(ReplicationMode mode) {
            if (mode == null) {
                throw new IllegalArgumentException("mode is null");
            }
            this.mode = mode;
            return this;
        }

        /**
         * This node's directory for the volume (required; created if missing): the engine's writer
         * state ({@code replication.state}) of every term this node writes in. One per (node,
         * volume); do not share it between nodes or volumes.
         */
        public Builder stateDir(Path dir) {
            if (dir == null) {
                throw new IllegalArgumentException("state directory is null");
            }
            this.stateDir = dir;
            return this;
        }

        /** How long a replica may take for one request before it drops out; default 10 s. */
        public Builder writeTimeout(Duration timeout) {
            return engine(b -> b.writeTimeout(timeout));
        }

        /** Bytes per dirty bit (see {@link Replication.Builder#regionSize}); default: the engine's. */
        public Builder regionSize(long bytes) {
            return engine(b -> b.regionSize(bytes));
        }

        /**
         * Background rebuild throttle in bytes per second; 0 (default) is unthrottled. The repair
         * of dirty regions inside each term's open is never throttled (it delays the fence, and
         * nothing writes meanwhile): see {@link Replication.Builder#rebuildRate}.
         */
        public Builder rebuildRate(long bytesPerSecond) {
            return engine(b -> b.rebuildRate(bytesPerSecond));
        }

        /** Called on the rebuilding thread after each copied chunk (keep it quick). */
        public Builder rebuildProgress(Consumer<RebuildProgress> listener) {
            return engine(b -> b.rebuildProgress(listener));
        }

        /** How often the background rebuild looks for out-of-sync replicas; default 5 s. */
        public Builder rebuildInterval(Duration interval) {
            if (interval == null || interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("rebuild interval must be positive: " + interval);
            }
            this.rebuildInterval = interval;
            return this;
        }

        /** The replica reads prefer (the local one); default the first added. */
        public Builder preferred(String id) {
            engine(b -> b.preferred(id));
            this.preferred = id;
            return this;
        }

        /**
         * The replicas were all freshly created zeroed: a brand-new set skips its initial copy
         * (ignored once the set has history; see {@link Replication.Builder#skipInitialSync}).
         */
        public Builder skipInitialSync() {
            return engine(Replication.Builder::skipInitialSync);
        }

        /**
         * @throws IllegalStateException if the volume, node id, replicas or state directory are
         *     missing, or the preferred replica is not configured
         */
        public ReplicatedOpener build() {
            if (volume == null || nodeId == null || replicas.isEmpty() || stateDir == null) {
                throw new IllegalStateException("a replicated opener needs a volume, a node id, replicas and a state"
                        + " directory");
            }
            if (preferred != null && !replicas.containsKey(preferred)) {
                throw new IllegalStateException("preferred replica " + preferred + " is not configured");
            }
            mode.required(replicas.size());
            return new ReplicatedOpener(this);
        }
    }
}

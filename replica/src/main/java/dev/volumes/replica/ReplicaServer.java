package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.nbd.ClientConnection;
import dev.volumes.nbd.ExportRefusedException;
import dev.volumes.nbd.NbdServer;
import dev.volumes.nbd.NbdTls;
import dev.volumes.nbd.ResolvedExport;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Serves local volumes as term-fenced NBD exports: the replica side of replication.
 *
 * <p>A writer connects to export {@code vol} with the export name
 * {@code vol;term=<term>;writer=<id>;session=<n>} (our extension, docs/replication.md "Wire"; the
 * session number is optional, and a lower one than the writer's current session is refused). The server
 * durably records the highest term promised per export (fsync'd before the handshake is
 * answered), refuses lower terms with {@code NBD_REP_ERR_POLICY} and a message naming both terms,
 * checks every request of a connection against the promise (race-free, see {@link TermFence}), and
 * cuts older connections at once when a newer claim arrives. A name without a term is refused.
 *
 * <p>Thread-safe. The exported devices belong to the caller: {@link #close()} stops serving and
 * closes the term files, not the devices.
 */
public final class ReplicaServer implements Closeable {

    private final Map<String, TermFence> fences;
    private final NbdServer nbd;
    private final Consumer<Runnable> cutter;

    private ReplicaServer(Map<String, TermFence> fences, NbdServer nbd, Consumer<Runnable> cutter) {
        this.fences = fences;
        this.nbd = nbd;
        this.cutter = cutter;
    }

    /** A new builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** The address it listens on (with the real port when 0 was asked). */
    public InetSocketAddress address() {
        return nbd.address();
    }

    /** The term export {@code name} has promised (0 if none). */
    public long promisedTerm(String name) {
        return fence(name).promised();
    }

    /**
     * A connector that claims export {@code name} in-process, through the same fence as NBD
     * clients: use it for the writer's own local replica so that a newer writer's claim fences it
     * too.
     */
    public ReplicaConnector localConnector(String name) {
        TermFence fence = fence(name);
        return new ReplicaConnector() {
            @Override
            public Device connect(long term, String writer) throws IOException {
                return fence.claim(term, writer, ExportName.nextSession(), null);
            }

            @Override
            public String describe() {
                return "local:" + name;
            }
        };
    }

    private TermFence fence(String name) {
        TermFence f = fences.get(name);
        if (f == null) {
            throw new IllegalArgumentException("no replica export " + name + " (exports: " + fences.keySet() + ")");
        }
        return f;
    }

    private Optional<ResolvedExport> resolve(String requested, ClientConnection connection)
            throws ExportRefusedException {
        ExportName parsed;
        try {
            parsed = ExportName.parse(requested);
        } catch (IllegalArgumentException e) {
            throw new ExportRefusedException(e.getMessage());
        }
        TermFence fence = fences.get(parsed.export());
        if (fence == null) {
            return Optional.empty();
        }
        if (parsed.term() == 0) {
            throw new ExportRefusedException("replica export " + parsed.export()
                    + " needs the writer's term: connect as " + parsed.export() + ";term=<n>;writer=<id>");
        }
        TermFence.Session session;
        try {
            session = fence.claim(parsed.term(), parsed.writer(), parsed.session(), () -> cutter.accept(
                    () -> connection.disconnect("replica export " + parsed.export() + ": superseded by a newer claim")));
        } catch (FencedException | TermFence.StaleSessionException e) {
            throw new ExportRefusedException(e.getMessage());
        } catch (IOException e) {
            throw new ExportRefusedException("replica export " + parsed.export() + ": claim failed: " + e.getMessage());
        }
        return Optional.of(new ResolvedExport(parsed.export(), "replica export, term " + parsed.term() + " of "
                + parsed.writer() + (parsed.session() > 0 ? " session " + parsed.session() : ""), session,
                session::close));
    }

    /** Stops serving (connections are cut) and closes the term files; exported devices stay open. */
    @Override
    public void close() throws IOException {
        IOException first = null;
        try {
            nbd.close();
        } catch (IOException e) {
            first = e;
        }
        for (TermFence f : fences.values()) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Collects exports and settings; not thread-safe. */
    public static final class Builder {
        private InetSocketAddress listen = new InetSocketAddress("127.0.0.1", 0);
        private final Map<String, Device> exports = new LinkedHashMap<>();
        private final Map<String, Device> termDevices = new LinkedHashMap<>();
        private Path stateDir;
        private NbdTls tls;
        private Duration claimTimeout = Duration.ofSeconds(10);
        private Consumer<Runnable> cutter = Runnable::run;

        private Builder() {}

        /** Where to listen; default 127.0.0.1 on an ephemeral port. */
        public Builder listen(InetSocketAddress address) {
            this.listen = Objects.requireNonNull(address, "address");
            return this;
        }

        /** Exports {@code device} (a local volume) as replica export {@code name}. */
        public Builder export(String name, Device device) {
            if (name == null || name.isEmpty() || name.contains(";")) {
                throw new IllegalArgumentException("export name must be non-empty without ';': " + name);
            }
            if (exports.putIfAbsent(name, Objects.requireNonNull(device, "device")) != null) {
                throw new IllegalArgumentException("duplicate export " + name);
            }
            return this;
        }

        /** Where the promised terms live ({@code <export>.term}); required. */
        public Builder stateDir(Path dir) {
            this.stateDir = Objects.requireNonNull(dir, "stateDir");
            return this;
        }

        /**
         * Test hook: runs the cut of a superseded session's connection (default: at once). A test
         * can hold cuts back to send requests on a superseded session, which the fence refuses.
         */
        Builder supersededCut(Consumer<Runnable> cutter) {
            this.cutter = Objects.requireNonNull(cutter, "cutter");
            return this;
        }

        /** Test hook: the term store of {@code export} on a given device (crash simulator). */
        Builder termDevice(String export, Device device) {
            termDevices.put(export, device);
            return this;
        }

        /** Serve over TLS (recommended across hosts: terms are not authenticated otherwise). */
        public Builder tls(NbdTls tls) {
            this.tls = tls;
            return this;
        }

        /** How long a claim waits for requests of older sessions to finish; default 10 s. */
        public Builder claimTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("claim timeout must be positive: " + timeout);
            }
            this.claimTimeout = timeout;
            return this;
        }

        /**
         * Opens the term files and starts listening.
         *
         * @throws IOException if a term file cannot be opened or the address cannot be bound
         */
        public ReplicaServer start() throws IOException {
            if (exports.isEmpty()) {
                throw new IllegalStateException("no exports");
            }
            if (stateDir == null && termDevices.size() < exports.size()) {
                throw new IllegalStateException("stateDir(...) is required");
            }
            Map<String, TermFence> fences = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, Device> e : exports.entrySet()) {
                    Device termDevice = termDevices.get(e.getKey());
                    if (termDevice == null) {
                        Files.createDirectories(stateDir);
                        Path file = stateDir.resolve(e.getKey() + ".term");
                        if (Files.exists(file)) {
                            termDevice = FileDevice.open(file);
                        } else {
                            termDevice = FileDevice.create(file, TermStore.DEVICE_SIZE);
                            try {
                                Replication.syncDirectory(stateDir); // a promise must not vanish with its file
                            } catch (IOException ex) {
                                termDevice.close();
                                throw ex;
                            }
                        }
                    }
                    fences.put(e.getKey(), new TermFence(e.getKey(), e.getValue(), TermStore.open(termDevice),
                            claimTimeout));
                }
                ReplicaServer[] self = new ReplicaServer[1];
                NbdServer.Builder b = NbdServer.builder().listen(listen)
                        .exportResolver((name, conn) -> self[0].resolve(name, conn));
                if (tls != null) {
                    b.tls(tls);
                }
                NbdServer nbd = b.build();
                self[0] = new ReplicaServer(fences, nbd, cutter);
                nbd.start();
                return self[0];
            } catch (IOException | RuntimeException e) {
                for (TermFence f : fences.values()) {
                    try {
                        f.close();
                    } catch (IOException ce) {
                        e.addSuppressed(ce);
                    }
                }
                throw e;
            }
        }
    }
}

package dev.volumes.nbd;

import dev.volumes.device.Device;
import java.io.Closeable;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * An NBD server (fixed newstyle, structured replies, extended headers, base:allocation, TLS)
 * exporting {@link Device}s by name over TCP and/or a Unix domain socket. The wire format and
 * every option, command and flag are described in docs/nbd.md.
 *
 * <pre>{@code
 * NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
 * server.addExport("disk", device, "my disk");
 * server.start();
 * ... server.address() ...
 * server.close();
 * }</pre>
 *
 * <p><b>Ownership:</b> the server never closes export devices; their owner does, after
 * {@link #removeExport} or {@link #close()} returned. <b>Threading:</b> every method is
 * thread-safe. Each connection runs on a virtual thread; its requests run concurrently on
 * further virtual threads and replies are matched by cookie. Memory held by in-flight requests is
 * bounded per connection and per server; when a bound is reached the server stops reading from
 * that client until replies drain. <b>Durability:</b> a write is acknowledged only after the
 * Device accepted it; FLUSH and FUA map to {@link Device#sync()} and {@code WriteFlag.FUA}.
 *
 * <p>Design: accept loops run on virtual threads, one per listener; connections are tracked in a
 * concurrent map for shutdown and stats. {@link #close()} stops accepting, asks each connection
 * to stop (handshakes are cut, transmissions stop reading, finish in-flight requests, sync and
 * close), waits for them, then syncs every export.
 */
public final class NbdServer implements Closeable {

    private static final System.Logger LOG = System.getLogger(NbdServer.class.getName());

    /**
     * Counters of one export.
     *
     * @param errors count of error replies by NBD error name (EIO, ENOSPC ...)
     * @param connections connections currently in transmission on this export
     */
    public record ExportStats(String name, long reads, long writes, long bytesRead, long bytesWritten, long flushes,
            long trims, long writeZeroes, long caches, long blockStatus, Map<String, Long> errors, int connections,
            long totalConnections) {}

    /**
     * Counters of one connection.
     *
     * @param peer the client's address
     * @param export the export in use, or null while the connection is still negotiating
     * @param tls whether the connection is encrypted
     * @param requests requests received in transmission
     * @param errors error replies sent
     * @param inFlight requests being processed now
     */
    public record ConnectionStats(long id, String peer, String export, boolean tls, long requests, long bytesRead,
            long bytesWritten, long errors, int inFlight) {}

    /**
     * Server-wide counters.
     *
     * @param connections open connections (handshake or transmission)
     * @param refusedConnections connections closed at once because of {@code maxConnections}
     * @param protocolErrors connections closed for breaking the protocol
     * @param handshakeTimeouts connections closed because the handshake took too long
     * @param inFlightBytes payload bytes currently reserved by in-flight requests
     * @param exports counters per export name: static exports, and names an {@link ExportResolver}
     *     resolved while at least one connection uses them
     * @param perConnection counters of every open connection, by connection id
     */
    public record Stats(int connections, long totalConnections, long refusedConnections, long protocolErrors,
            long handshakeTimeouts, long inFlightBytes, Map<String, ExportStats> exports,
            List<ConnectionStats> perConnection) {}

    private final InetSocketAddress listen;
    private final Path unixSocket;
    private final NbdTls tls;
    private final int maxConnections;
    private final Duration handshakeTimeout;
    private final Duration drainTimeout;
    private final Duration sendTimeout;
    private final int connectionBytes;
    private final int serverBytes;
    private final ExportResolver resolver;
    /** Test hook run on each accepted channel before it is served (null in production). */
    private final java.util.function.Consumer<SocketChannel> acceptHook;
    /** Test hook run with the export name after a handshake attached it, before the reply (null in production). */
    private final java.util.function.Consumer<String> attachHook;
    private final java.util.function.BiConsumer<Long, java.util.function.BooleanSupplier> executeHook;
    private final boolean platformReader;
    private final int sendBuffer;

    /**
     * Guards the pairing of {@link #exports} with connections attaching to them: an attach checks,
     * under this lock, that its export is still registered, and removeExport unregisters and
     * collects attached connections under it, so no connection attaches after removeExport
     * collected.
     */
    private final Object exportLock = new Object();
    private final ConcurrentHashMap<String, Export> exports = new ConcurrentHashMap<>();
    /** Counters of resolved exports by name, shared by the connections using that name now. */
    private final ConcurrentHashMap<String, SharedCounters> resolvedCounters = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, Connection> connections = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, Thread> connectionThreads = new ConcurrentHashMap<>();
    private final Semaphore bytes;
    private final BufferPool buffers;
    private final AtomicLong ids = new AtomicLong();
    private final LongAdder total = new LongAdder();
    private final LongAdder refused = new LongAdder();
    private final LongAdder protocolErrors = new LongAdder();
    private final LongAdder timeouts = new LongAdder();
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Thread> acceptors = new ArrayList<>();
    private final Object lifecycle = new Object();
    private ScheduledExecutorService timer;
    private volatile boolean started;
    private volatile boolean closing;
    private InetSocketAddress boundAddress;

    private NbdServer(Builder b) {
        this.listen = b.listen;
        this.unixSocket = b.unixSocket;
        this.tls = b.tls;
        this.maxConnections = b.maxConnections;
        this.handshakeTimeout = b.handshakeTimeout;
        this.drainTimeout = b.drainTimeout;
        this.sendTimeout = b.sendTimeout;
        this.connectionBytes = b.connectionBytes;
        this.serverBytes = b.serverBytes;
        this.resolver = b.resolver;
        this.bytes = new Semaphore(serverBytes);
        this.buffers = new BufferPool(Math.min(serverBytes, 128L << 20), b.directAllocator);
        this.acceptHook = b.acceptHook;
        this.attachHook = b.attachHook;
        this.executeHook = b.executeHook;
        this.platformReader = b.platformReader;
        this.sendBuffer = b.sendBuffer;
    }

    /** A builder with defaults: TCP 127.0.0.1:10809, no TLS, 1024 connections, 30 s handshake. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Adds an export, or replaces the export of that name; clients can select it immediately,
     * also while the server runs. The server does not take ownership of {@code device}.
     *
     * <p><b>Replacing</b> is {@link #removeExport} of the old export and adding the new one in one
     * step: from this call on, new clients get the new device (the name is never unknown in
     * between), and connections using the old export are drained exactly as removeExport drains
     * them (they stop reading, finish in-flight requests, the old device is synced, the sockets
     * close; bounded by {@link Builder#drainTimeout}). This returns after that, so the caller may
     * then close the old device. Re-adding the same device under the same name also restarts its
     * connections.
     *
     * @param name export name, at most 4096 bytes of UTF-8; "" is the default export
     * @param description human-readable text for {@code NBD_OPT_LIST} and {@code NBD_INFO_DESCRIPTION}; may be null
     * @throws IllegalArgumentException if the name is null or too long, or the device is null
     */
    public void addExport(String name, Device device, String description) {
        if (name == null || name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > Wire.MAX_STRING
                || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("export name must be at most " + Wire.MAX_STRING
                    + " bytes of UTF-8 without NUL: " + name);
        }
        Export export = new Export(name, device, description, new Counters(), true);
        Export replaced;
        List<Connection> affected;
        synchronized (exportLock) {
            replaced = exports.put(name, export);
            affected = attachedTo(replaced);
        }
        if (replaced != null) {
            retire(replaced, affected, "replaced");
        }
    }

    /**
     * Removes an export: new clients can no longer select it, and connections using it are shut
     * down gracefully (in-flight requests finish and the device is synced). Returns when they have
     * closed, after which the caller may close the device.
     *
     * @return whether an export of that name existed
     */
    public boolean removeExport(String name) {
        Export removed;
        List<Connection> affected;
        synchronized (exportLock) {
            removed = exports.remove(name);
            if (removed == null) {
                return false;
            }
            affected = attachedTo(removed);
        }
        retire(removed, affected, "removed");
        return true;
    }

    /** Connections attached to {@code export} (none for null); call under {@link #exportLock}. */
    private List<Connection> attachedTo(Export export) {
        List<Connection> affected = new ArrayList<>();
        if (export != null) {
            for (Connection c : connections.values()) {
                if (c.export() == export) {
                    affected.add(c);
                }
            }
        }
        return affected;
    }

    /** Drains the connections of an export no longer registered, then syncs its device. */
    private void retire(Export old, List<Connection> affected, String how) {
        for (Connection c : affected) {
            c.shutdown();
        }
        awaitDrained(affected);
        try {
            old.device().sync();
        } catch (IOException e) {
            LOG.log(Level.WARNING, () -> "sync of " + how + " export '" + old.name() + "' failed: " + e);
        }
    }

    /**
     * Binds the listeners and starts accepting connections.
     *
     * @throws IOException if a listener cannot be bound (nothing is left bound then)
     * @throws IllegalStateException if already started or closed
     */
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (started || closing) {
                throw new IllegalStateException("server already started or closed");
            }
            started = true;
            try {
                if (listen != null) {
                    ServerSocketChannel tcp = ServerSocketChannel.open(StandardProtocolFamily.INET);
                    listeners.add(tcp);
                    tcp.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                    tcp.bind(listen, 128);
                    boundAddress = (InetSocketAddress) tcp.getLocalAddress();
                }
                if (unixSocket != null) {
                    if (Files.exists(unixSocket, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                            && Files.readAttributes(unixSocket, java.nio.file.attribute.BasicFileAttributes.class,
                                    java.nio.file.LinkOption.NOFOLLOW_LINKS).isOther()) {
                        Files.delete(unixSocket); // a stale socket from an earlier run
                    }
                    ServerSocketChannel unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                    listeners.add(unix);
                    unix.bind(UnixDomainSocketAddress.of(unixSocket), 128);
                }
            } catch (IOException e) {
                for (ServerSocketChannel l : listeners) {
                    l.close();
                }
                listeners.clear();
                throw e;
            }
            timer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "nbd-timer");
                t.setDaemon(true);
                return t;
            });
            long period = Math.max(100, Math.min(1000, sendTimeout.toMillis() / 4));
            timer.scheduleAtFixedRate(this::abortStuckSenders, period, period, TimeUnit.MILLISECONDS);
            for (ServerSocketChannel l : listeners) {
                acceptors.add(Thread.ofVirtual().name("nbd-accept").start(() -> accept(l)));
            }
        }
    }

    /** The test hook run before each request executes, or null. */
    java.util.function.BiConsumer<Long, java.util.function.BooleanSupplier> executeHook() {
        return executeHook;
    }

    /** The bound TCP address (with the real port when 0 was asked), if a TCP listener exists. */
    public InetSocketAddress address() {
        synchronized (lifecycle) {
            if (boundAddress == null) {
                throw new IllegalStateException("no TCP listener is bound (not started, or Unix socket only)");
            }
            return boundAddress;
        }
    }

    /** The Unix socket path, if one was configured. */
    public Optional<Path> unixSocket() {
        return Optional.ofNullable(unixSocket);
    }

    /** A snapshot of the counters; cheap, safe to call from any thread at any time. */
    public Stats stats() {
        Map<String, ExportStats> e = new TreeMap<>();
        resolvedCounters.forEach((name, shared) -> e.put(name, shared.counters.snapshot(name)));
        exports.forEach((name, export) -> e.put(name, export.counters().snapshot(name)));
        List<ConnectionStats> perConnection = new ArrayList<>();
        for (Connection c : connections.values()) {
            perConnection.add(c.stats());
        }
        perConnection.sort(Comparator.comparingLong(ConnectionStats::id));
        return new Stats(connections.size(), total.sum(), refused.sum(), protocolErrors.sum(), timeouts.sum(),
                (long) serverBytes - bytes.availablePermits(), Map.copyOf(e), List.copyOf(perConnection));
    }

    /**
     * Graceful shutdown: stop accepting, cut connections still negotiating, let connections in
     * transmission finish their in-flight requests (no new requests are read), sync every export,
     * close all sockets. Idempotent. Does not close export devices (an export whose device its
     * owner already closed is skipped).
     *
     * @throws IOException if syncing an export failed (every export is still attempted and every
     *     connection is closed; further failures are suppressed exceptions)
     */
    @Override
    public void close() throws IOException {
        synchronized (lifecycle) {
            if (closing) {
                return;
            }
            closing = true;
        }
        for (ServerSocketChannel l : listeners) {
            try {
                l.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        for (Thread a : acceptors) {
            join(a);
        }
        List<Connection> open = new ArrayList<>(connections.values());
        for (Connection c : open) {
            c.shutdown();
        }
        awaitDrained(open);
        for (Thread t : connectionThreads.values()) {
            join(t);
        }
        if (timer != null) {
            timer.shutdownNow();
        }
        if (unixSocket != null) {
            Files.deleteIfExists(unixSocket);
        }
        IOException failure = null;
        for (Export e : exports.values()) {
            try {
                e.device().sync();
            } catch (dev.volumes.device.DeviceClosedException ex) {
                // its owner already closed it: nothing left for us to make durable
            } catch (IOException ex) {
                if (failure == null) {
                    failure = new IOException("sync of export '" + e.name() + "' at shutdown failed", ex);
                } else {
                    failure.addSuppressed(ex);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    // ----------------------------------------------------------- package-private for connections

    NbdTls tls() {
        return tls;
    }

    boolean closing() {
        return closing;
    }

    Semaphore bytes() {
        return bytes;
    }

    BufferPool buffers() {
        return buffers;
    }

    int connectionByteBudget() {
        return connectionBytes;
    }

    /** Mutable holder: counters of one resolved name and how many resolutions use them. */
    private static final class SharedCounters {
        final Counters counters = new Counters();
        int users;
    }

    /** Counters for a resolved export named {@code name}; pair with {@link #releaseResolvedCounters}. */
    Counters resolvedCounters(String name) {
        return resolvedCounters.compute(name, (k, v) -> {
            SharedCounters c = v == null ? new SharedCounters() : v;
            c.users++;
            return c;
        }).counters;
    }

    /** A resolution of {@code name} ended; its counters are dropped when no connection uses the name. */
    void releaseResolvedCounters(String name) {
        resolvedCounters.computeIfPresent(name, (k, v) -> --v.users == 0 ? null : v);
    }

    /**
     * The SO_SNDBUF to set on an accepted TCP connection from {@code remote}, or 0 to leave the
     * kernel's autotuning in charge (see {@link Builder#tcpSendBuffer}).
     */
    int sendBufferFor(java.net.SocketAddress remote) {
        if (sendBuffer != AUTO_SEND_BUFFER) {
            return sendBuffer;
        }
        return remote instanceof InetSocketAddress inet && inet.getAddress() != null && inet.getAddress().isLoopbackAddress()
                ? LOOPBACK_SEND_BUFFER : 0;
    }

    /** {@link Builder#tcpSendBuffer} not called: {@link #LOOPBACK_SEND_BUFFER} for loopback peers, autotuning for others. */
    static final int AUTO_SEND_BUFFER = -1;

    /**
     * SO_SNDBUF for loopback peers by default. Measured against autotuning, which had grown the
     * buffer to 4 MiB, on 1 MiB sequential reads, and against 128 KiB to 1 MiB fixed sizes
     * (docs/benchmarks.md, nbd "Send buffer").
     */
    static final int LOOPBACK_SEND_BUFFER = 512 * 1024;

    /** Whether connections start with a platform-thread reader (see Transmission). */
    boolean platformReader() {
        return platformReader;
    }

    /** The resolver for names that are not static exports, or null. */
    ExportResolver resolver() {
        return resolver;
    }

    /**
     * Makes {@code export} the connection's export if it is still registered (static) and the
     * server is not closing; atomic with respect to {@link #removeExport}. Resolved exports
     * ({@code !shared}) always attach unless the server is closing.
     *
     * @return false if the export was removed (or the server is closing) since it was looked up
     */
    boolean attach(Connection connection, Export export) {
        synchronized (exportLock) {
            if (closing || (export.shared() && exports.get(export.name()) != export)) {
                return false;
            }
            connection.attached(export);
            return true;
        }
    }
    /** A handshake attached export {@code name} and is about to reply (runs the test hook, if any). */
    void attached(String name) {
        if (attachHook != null) {
            attachHook.accept(name);
        }
    }

    /** The export for {@code name}; "" selects the export named "" or else the only export. */
    Export export(String name) {
        Export e = exports.get(name);
        if (e == null && name.isEmpty() && exports.size() == 1) {
            e = exports.values().iterator().next();
        }
        return e;
    }

    List<Export> exportList() {
        List<Export> list = new ArrayList<>(exports.values());
        list.sort(Comparator.comparing(Export::name));
        return list;
    }

    void protocolError() {
        protocolErrors.increment();
    }

    void handshakeTimedOut() {
        timeouts.increment();
    }

    void connectionEnded(Connection c) {
        connections.remove(c.id());
        connectionThreads.remove(c.id());
    }

    /**
     * One listener's accept loop. A failure while accepting or setting up one connection (an
     * IOException such as EMFILE, a RuntimeException, any Error including OutOfMemoryError,
     * InternalError and UnknownError) is logged at ERROR, that connection is closed, and the loop
     * keeps accepting after a short pause (so a persistent failure does not spin). Only the
     * listener being closed ends the loop; if that happens while the server is not closing, it is
     * logged at ERROR as the server no longer accepting on that address. (Whether the JVM is still
     * healthy after a VirtualMachineError is for the process owner to decide, not for one
     * listener to guess by going deaf.)
     */
    private void accept(ServerSocketChannel listener) {
        while (!closing) {
            SocketChannel channel = null;
            try {
                channel = listener.accept();
                serve(channel);
            } catch (Throwable e) {
                if (closing) {
                    return;
                }
                closeQuietly(channel);
                if (!listener.isOpen()) {
                    LOG.log(Level.ERROR, () -> "listener " + listenerName(listener)
                            + " closed unexpectedly; the server no longer accepts connections there", e);
                    return;
                }
                LOG.log(Level.ERROR, () -> "accepting a connection on " + listenerName(listener)
                        + " failed; still accepting", e);
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private static String listenerName(ServerSocketChannel listener) {
        try {
            return String.valueOf(listener.getLocalAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // failing anyway
            }
        }
    }

    /** Registers and starts a connection for an accepted channel (or refuses it). */
    private void serve(SocketChannel channel) {
        if (acceptHook != null) {
            acceptHook.accept(channel);
        }
        try {
            if (channel.getLocalAddress() instanceof InetSocketAddress) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                int sendBuffer = sendBufferFor(channel.getRemoteAddress());
                if (sendBuffer > 0) {
                    channel.setOption(StandardSocketOptions.SO_SNDBUF, sendBuffer);
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
        if (closing || connections.size() >= maxConnections) {
            refused.increment();
            closeQuietly(channel);
            return;
        }
        long id = ids.incrementAndGet();
        total.increment();
        Connection c = new Connection(this, new ChannelTransport(channel), id);
        Thread t = Thread.ofVirtual().name("nbd-conn-" + id).unstarted(c);
        connections.put(id, c);
        connectionThreads.put(id, t);
        try {
            t.start();
        } catch (Throwable e) {
            connections.remove(id);
            connectionThreads.remove(id);
            throw e;
        }
        try {
            timer.schedule(c::handshakeExpired, handshakeTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            c.shutdown(); // the server is closing
        }
    }

    /**
     * Waits until the given connections have drained and ended, at most {@link Builder#drainTimeout}
     * in all. A connection still running then is aborted: its socket is closed, which fails a
     * reply stuck in a send to a client that stopped reading, so its requests finish and release
     * their memory. Writes already applied to the device stay applied (the caller syncs after);
     * only their replies are lost, which the client sees as a dropped connection.
     */
    private void awaitDrained(List<Connection> draining) {
        long deadline = System.nanoTime() + drainTimeout.toNanos();
        for (Connection c : draining) {
            Thread t = connectionThreads.get(c.id());
            if (t == null) {
                continue;
            }
            try {
                long left = deadline - System.nanoTime();
                if (left > 0 && t.join(Duration.ofNanos(left))) {
                    continue;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            LOG.log(Level.WARNING, () -> "connection " + c.id() + " did not drain within " + drainTimeout
                    + " (a client not reading its replies?): closing its socket");
            c.abort();
            join(t);
        }
    }

    /**
     * Closes connections whose reply send has been blocked longer than the send timeout: their
     * client stopped reading, and its stuck requests would otherwise hold request slots and the
     * server-wide in-flight budget that every other client needs.
     */
    private void abortStuckSenders() {
        long now = System.nanoTime();
        long limit = sendTimeout.toNanos();
        for (Connection c : connections.values()) {
            if (c.sendBlockedNanos(now) > limit) {
                LOG.log(Level.WARNING, () -> "connection " + c.id() + ": a reply has been blocked for more than "
                        + sendTimeout + " (the client is not reading): closing it");
                c.abort();
            }
        }
    }

    private static void join(Thread t) {
        if (t == null) {
            return;
        }
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Immutable-style builder for {@link NbdServer}; every setter validates its argument. */
    public static final class Builder {
        private InetSocketAddress listen = new InetSocketAddress("127.0.0.1", 10809);
        private Path unixSocket;
        private NbdTls tls;
        private int maxConnections = 1024;
        private Duration handshakeTimeout = Duration.ofSeconds(30);
        private Duration drainTimeout = Duration.ofSeconds(30);
        private Duration sendTimeout = Duration.ofSeconds(120);
        private int connectionBytes = 64 << 20;
        private int serverBytes = 512 << 20;
        private ExportResolver resolver;
        private java.util.function.IntFunction<java.nio.ByteBuffer> directAllocator = java.nio.ByteBuffer::allocateDirect;
        private java.util.function.Consumer<SocketChannel> acceptHook;
        private java.util.function.Consumer<String> attachHook;
        private java.util.function.BiConsumer<Long, java.util.function.BooleanSupplier> executeHook;
        private boolean platformReader = Transmission.PLATFORM_READER;
        private int sendBuffer = AUTO_SEND_BUFFER;

        private Builder() {}

        /** TCP address to listen on (port 0 = ephemeral); {@code null} for no TCP listener. */
        public Builder listen(InetSocketAddress address) {
            this.listen = address;
            return this;
        }

        /** Also (or only, with {@code listen(null)}) listen on this Unix domain socket path. */
        public Builder unixSocket(Path path) {
            this.unixSocket = path;
            return this;
        }

        /** Offer (and by default require) TLS on TCP connections. */
        public Builder tls(NbdTls tls) {
            this.tls = tls;
            return this;
        }

        /** Connections beyond this many are closed at once (counted as refused). */
        public Builder maxConnections(int max) {
            if (max < 1) {
                throw new IllegalArgumentException("maxConnections must be positive: " + max);
            }
            this.maxConnections = max;
            return this;
        }

        /**
         * How long {@link NbdServer#close()} and {@link NbdServer#removeExport} wait for in-flight
         * requests to finish before closing the sockets of connections that are still busy
         * (default 30 s).
         */
        public Builder drainTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("drain timeout must be positive: " + timeout);
            }
            this.drainTimeout = timeout;
            return this;
        }

        /**
         * A connection whose reply has been blocked in a send for this long (its client stopped
         * reading) is closed, releasing the memory its requests hold (default 120 s; generous,
         * so a slow but live client finishing a 32 MiB reply is not cut off).
         */
        public Builder sendTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("send timeout must be positive: " + timeout);
            }
            this.sendTimeout = timeout;
            return this;
        }

        /** A connection that has not finished its handshake after this long is closed. */
        public Builder handshakeTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("handshake timeout must be positive: " + timeout);
            }
            this.handshakeTimeout = timeout;
            return this;
        }

        /**
         * Payload bytes in flight per connection and per server (reads and writes being
         * processed); must be at least 32 MiB (the largest request payload).
         */
        public Builder inFlightBytes(int perConnection, int perServer) {
            if (perConnection < (32 << 20) || perServer < perConnection) {
                throw new IllegalArgumentException("in-flight budgets must be >= 32 MiB and per-server >= per-connection: "
                        + perConnection + ", " + perServer);
            }
            this.connectionBytes = perConnection;
            this.serverBytes = perServer;
            return this;
        }

        /**
         * The socket send buffer (SO_SNDBUF) of every TCP connection, in bytes; 0 leaves it to the
         * kernel's autotuning. Not called: 512 KiB for clients on a loopback address, autotuning
         * for every other client.
         *
         * <p>Why: on loopback the kernel autotunes a busy connection's buffer up to 4 MiB, so a
         * server answering 1 MiB reads queues several replies ahead of its client, and the TCP
         * work of acknowledging them lands on the server's core, which is the bottleneck. A fixed
         * 512 KiB made 1 MiB sequential reads about 1.25x faster on loopback (docs/benchmarks.md,
         * nbd "Send buffer"). Over a real network the buffer has to cover the bandwidth-delay
         * product, which autotuning does, so remote clients keep it. Unix domain sockets are never
         * changed.
         */
        public Builder tcpSendBuffer(int bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("send buffer must be >= 0 (0 = kernel autotuning): " + bytes);
            }
            this.sendBuffer = bytes;
            return this;
        }

        /**
         * Resolves names that are not static exports, per connection (see {@link ExportResolver});
         * {@code null} (the default) means such names are unknown.
         */
        public Builder exportResolver(ExportResolver resolver) {
            this.resolver = resolver;
            return this;
        }

        /** Tests only: how payload buffers are allocated (to inject direct-memory exhaustion). */
        Builder directAllocator(java.util.function.IntFunction<java.nio.ByteBuffer> allocator) {
            this.directAllocator = allocator;
            return this;
        }

        /** Tests only: platform-thread readers on or off (default: one processor, or {@code -Dvolumes.nbd.platformReader}). */
        Builder platformReader(boolean on) {
            this.platformReader = on;
            return this;
        }

        /** Tests only: runs on every accepted channel inside the accept loop (to inject failures). */
        Builder acceptHook(java.util.function.Consumer<SocketChannel> hook) {
            this.acceptHook = hook;
            return this;
        }

        /** Tests only: runs with the export name after a handshake attached it, before the GO/EXPORT_NAME reply. */
        Builder attachHook(java.util.function.Consumer<String> hook) {
            this.attachHook = hook;
            return this;
        }

        /**
         * Test hook: called with each request's cookie and "has the client's input ended" just
         * before the request would start executing.
         */
        Builder executeHook(java.util.function.BiConsumer<Long, java.util.function.BooleanSupplier> hook) {
            this.executeHook = hook;
            return this;
        }

        /** The server (not yet started). */
        public NbdServer build() {
            if (listen == null && unixSocket == null) {
                throw new IllegalStateException("no listener: set listen(...) or unixSocket(...)");
            }
            return new NbdServer(this);
        }
    }
}

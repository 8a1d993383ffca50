package dev.volumes.nbd;

import dev.volumes.device.BlockSizes;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One client connection: the fixed-newstyle handshake, then {@link Transmission}.
 *
 * <p>Design: one (virtual) thread runs {@link #run()} and is the only reader of the socket. The
 * handshake is strictly request/reply, so it also writes directly. {@link #transport} is replaced
 * once on STARTTLS. {@link #phase} is volatile so {@link #shutdown()} and the handshake watchdog,
 * called from other threads, can decide whether to close at once (handshake) or to stop reading
 * and let transmission drain (in-flight requests finish, the device is synced, then close).
 * Option state (structured replies, extended headers, meta contexts) is per connection and reset
 * by STARTTLS as the spec requires.
 *
 * <p>Exports: a static export is attached through {@link NbdServer#attach} (atomic with
 * removeExport) before GO/EXPORT_NAME is acknowledged. A name the server does not hold goes to the
 * {@link ExportResolver}; each resolution is a {@link Resolution} whose onClose runs exactly
 * once: at once for INFO or a failed GO, else in {@link #run()}'s finally, after transmission
 * drained every request. {@link #disconnect} (any thread) marks the connection and closes the
 * socket; transmission checks the mark before starting each request.
 */
final class Connection implements Runnable, ClientConnection {

    private static final System.Logger LOG = System.getLogger(Connection.class.getName());

    enum Phase { HANDSHAKE, TRANSMISSION, CLOSED }

    /** What the handshake agreed on. */
    record Negotiated(Export export, int transmissionFlags, ReplyEncoder.Style style, boolean baseAllocation) {}

    private final NbdServer server;
    private final long id;
    volatile Transport transport;
    volatile Phase phase = Phase.HANDSHAKE;
    /** Unread input, in read mode (position..limit). */
    final ByteBuffer in = ByteBuffer.allocate(64 * 1024).flip();

    private boolean structured;
    private boolean extended;
    private String metaExport;
    private boolean metaBaseAllocation;
    private volatile Transmission transmission;
    private volatile Export attached;
    /** The resolution the connection is using (after a GO of a resolved export), closed at the end. */
    private Resolution resolution;
    private final java.util.concurrent.atomic.AtomicBoolean disconnected = new java.util.concurrent.atomic.AtomicBoolean();

    /** One use of a {@link ResolvedExport}; {@link #close()} runs its onClose exactly once. */
    private final class Resolution {
        final Export export;
        final ResolvedExport resolved;
        private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

        Resolution(ResolvedExport resolved) {
            this.resolved = resolved;
            this.export = new Export(resolved.name(), resolved.device(), resolved.description(),
                    server.resolvedCounters(resolved.name()), false);
        }

        void close() {
            if (!closed.compareAndSet(false, true)) {
                return;
            }
            server.releaseResolvedCounters(resolved.name());
            try {
                resolved.onClose().run();
            } catch (RuntimeException | Error e) {
                LOG.log(Level.WARNING, () -> "onClose of resolved export '" + resolved.name() + "' (connection " + id
                        + ") failed", e);
            }
        }
    }

    /** What a name lookup found: a static export or a resolution, or why there is none. */
    private sealed interface Lookup {}

    private record Found(Export export, Resolution resolution) implements Lookup {
        Found withExport() {
            return new Found(resolution.export, resolution);
        }
    }

    private record Missing(int error, String message) implements Lookup {}

    Connection(NbdServer server, Transport transport, long id) {
        this.server = server;
        this.transport = transport;
        this.id = id;
    }

    long id() {
        return id;
    }

    /** The export attached (about to be or being served), or null before GO/EXPORT_NAME. */
    Export export() {
        return attached;
    }

    /** Called by {@link NbdServer#attach} under its export lock. */
    void attached(Export export) {
        this.attached = export;
    }

    /** Whether {@link #disconnect} was called: no further request may start. */
    boolean disconnected() {
        return disconnected.get();
    }

    @Override
    public java.net.SocketAddress remoteAddress() {
        return transport.remoteAddress();
    }

    @Override
    public java.util.Optional<java.security.Principal> tlsPeer() {
        return transport.tlsPeer();
    }

    @Override
    public void disconnect(String reason) {
        if (!disconnected.compareAndSet(false, true)) {
            return;
        }
        LOG.log(Level.INFO, () -> "connection " + id + " from " + transport.peer() + " disconnected: " + reason);
        Transmission t = transmission;
        if (t != null) {
            t.stop();
        }
        transport.close();
    }

    @Override
    public void run() {
        try {
            Negotiated negotiated = negotiate();
            if (negotiated != null && !server.closing()) {
                Transmission t = new Transmission(this, server, negotiated);
                transmission = t;
                phase = Phase.TRANSMISSION;
                t.run();
            }
        } catch (ProtocolException e) {
            server.protocolError();
            LOG.log(Level.DEBUG, () -> "connection " + id + " from " + transport.peer() + ": " + e.getMessage());
        } catch (IOException e) {
            LOG.log(Level.DEBUG, () -> "connection " + id + " from " + transport.peer() + " ended: " + e);
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, () -> "connection " + id + " failed unexpectedly", e);
        } finally {
            phase = Phase.CLOSED;
            transport.close();
            if (resolution != null) {
                resolution.close();
            }
            server.connectionEnded(this);
        }
    }

    /** Counters of this connection; export is null while it is still negotiating. */
    NbdServer.ConnectionStats stats() {
        Transmission t = transmission;
        Transport tr = transport;
        return t != null ? t.stats(id, tr.peer(), tr.secure())
                : new NbdServer.ConnectionStats(id, tr.peer(), null, tr.secure(), 0, 0, 0, 0, 0);
    }

    /**
     * Graceful stop: during the handshake (also after GO/EXPORT_NAME attached an export but before
     * its reply went out) close at once; during transmission stop reading and drain. {@link #phase}
     * is read first: run() publishes {@link #transmission} before the phase, so a TRANSMISSION
     * phase always comes with its Transmission to stop.
     */
    void shutdown() {
        if (phase == Phase.TRANSMISSION) {
            transmission.stop();
            transport.shutdownInput();
        } else {
            transport.close();
        }
    }

    /** How long the reply being sent has been blocked at {@code now} (0 when none, or not transmitting). */
    long sendBlockedNanos(long now) {
        Transmission t = transmission;
        return t == null ? 0 : t.sendBlockedNanos(now);
    }

    /** Forced stop after a graceful one did not finish in time: closes the socket under everything. */
    void abort() {
        transport.close();
    }

    /** Closes the connection if it is still negotiating (handshake timeout). */
    void handshakeExpired() {
        if (phase == Phase.HANDSHAKE) {
            LOG.log(Level.DEBUG, () -> "connection " + id + ": handshake timed out");
            server.handshakeTimedOut();
            transport.close();
        }
    }

    // ---------------------------------------------------------------- handshake

    private Negotiated negotiate() throws IOException {
        transport.write(HandshakeEncoder.greeting());
        OptionDecoder decoder = new OptionDecoder();
        OptionDecoder.ClientFlags flags = (OptionDecoder.ClientFlags) next(decoder);
        int known = Wire.CLIENT_FIXED_NEWSTYLE | Wire.CLIENT_NO_ZEROES;
        if ((flags.flags() & ~known) != 0) {
            throw new ProtocolException(String.format("unknown client flags 0x%08x", flags.flags()));
        }
        if ((flags.flags() & Wire.CLIENT_FIXED_NEWSTYLE) == 0) {
            throw new ProtocolException("client does not speak fixed newstyle; only fixed newstyle is served");
        }
        boolean noZeroes = (flags.flags() & Wire.CLIENT_NO_ZEROES) != 0;
        while (true) {
            OptionDecoder.Message message = next(decoder);
            if (message instanceof OptionDecoder.Oversized big) {
                if (big.option() == Wire.OPT_EXPORT_NAME) {
                    throw new ProtocolException("NBD_OPT_EXPORT_NAME of " + big.length() + " bytes");
                }
                reply(HandshakeEncoder.error(big.option(), Wire.REP_ERR_TOO_BIG, "option data of " + big.length()
                        + " bytes exceeds the limit of " + Wire.MAX_OPTION_LENGTH));
                continue;
            }
            OptionRequest option = OptionRequest.parse((OptionDecoder.RawOption) message);
            Negotiated done = handle(option, noZeroes, decoder);
            if (done != null) {
                return done;
            }
            if (option instanceof OptionRequest.Abort) {
                return null;
            }
        }
    }

    private OptionDecoder.Message next(OptionDecoder decoder) throws IOException {
        while (true) {
            OptionDecoder.Message m = decoder.decode(in);
            if (m != null) {
                return m;
            }
            fill();
        }
    }

    /** Reads more bytes into {@link #in}; throws {@link EOFException} at end of stream. */
    void fill() throws IOException {
        in.compact();
        try {
            if (transport.read(in) < 0) {
                throw new EOFException("client closed the connection");
            }
        } finally {
            in.flip();
        }
    }

    private void reply(ByteBuffer... buffers) throws IOException {
        transport.write(buffers);
    }

    private Negotiated handle(OptionRequest option, boolean noZeroes, OptionDecoder decoder) throws IOException {
        NbdTls tls = server.tls();
        int code = option.code();
        boolean tlsRequired = tls != null && tls.required() && !transport.secure();
        if (option instanceof OptionRequest.Abort) {
            reply(HandshakeEncoder.ack(code));
            return null;
        }
        if (tlsRequired && !(option instanceof OptionRequest.StartTls)) {
            if (option instanceof OptionRequest.ExportName) {
                throw new ProtocolException("NBD_OPT_EXPORT_NAME without TLS while TLS is required");
            }
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_TLS_REQD, "this server requires TLS: send NBD_OPT_STARTTLS first"));
            return null;
        }
        if (server.closing()) {
            if (option instanceof OptionRequest.ExportName) {
                throw new ProtocolException("server is shutting down");
            }
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_SHUTDOWN, "server is shutting down"));
            return null;
        }
        switch (option) {
            case OptionRequest.StartTls s -> startTls(tls, decoder);
            case OptionRequest.ListExports l -> {
                for (Export e : server.exportList()) {
                    reply(HandshakeEncoder.server(e.name(), e.description()));
                }
                reply(HandshakeEncoder.ack(code));
            }
            case OptionRequest.StructuredReply s -> {
                structured = true;
                reply(HandshakeEncoder.ack(code));
            }
            case OptionRequest.ExtendedHeaders x -> {
                structured = true;
                extended = true;
                reply(HandshakeEncoder.ack(code));
            }
            case OptionRequest.MetaContext m -> metaContext(m);
            case OptionRequest.Info info -> {
                return info(info);
            }
            case OptionRequest.ExportName name -> {
                Found found = switch (lookup(name.name())) {
                    case Found f -> f;
                    case Missing m -> throw new ProtocolException("NBD_OPT_EXPORT_NAME for '" + name.name()
                            + "' cannot be served: " + m.message());
                };
                Export export = found.export();
                boolean ok = false;
                try {
                    int flags = export.transmissionFlags(structured);
                    long size = export.device().size();
                    if (!attach(found)) {
                        throw new ProtocolException("NBD_OPT_EXPORT_NAME for '" + name.name() + "': export was removed");
                    }
                    ok = true;
                    reply(HandshakeEncoder.exportNameReply(size, flags, noZeroes));
                    return negotiated(export, flags, name.name());
                } finally {
                    if (!ok && found.resolution() != null) {
                        found.resolution().close();
                    }
                }
            }
            case OptionRequest.Invalid bad -> reply(HandshakeEncoder.error(code, Wire.REP_ERR_INVALID, bad.reason()));
            case OptionRequest.Unknown u -> reply(HandshakeEncoder.error(code, Wire.REP_ERR_UNSUP,
                    "option " + u.code() + " is not supported"));
            case OptionRequest.Abort a -> throw new AssertionError("handled above");
        }
        return null;
    }

    private Negotiated negotiated(Export export, int flags, String asked) {
        ReplyEncoder.Style style = extended ? ReplyEncoder.Style.EXTENDED
                : structured ? ReplyEncoder.Style.STRUCTURED : ReplyEncoder.Style.SIMPLE;
        boolean base = metaBaseAllocation && (export.name().equals(metaExport) || asked.equals(metaExport));
        return new Negotiated(export, flags, style, base);
    }

    private void startTls(NbdTls tls, OptionDecoder decoder) throws IOException {
        int code = Wire.OPT_STARTTLS;
        if (tls == null) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_POLICY, "TLS is not configured on this server"));
        } else if (transport.secure()) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_INVALID, "TLS is already active"));
        } else if (!transport.canStartTls()) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_PLATFORM, "TLS is only offered on TCP listeners"));
        } else {
            reply(HandshakeEncoder.ack(code));
            if (in.hasRemaining() || !decoder.idle()) {
                throw new ProtocolException("client sent data after NBD_OPT_STARTTLS before the TLS handshake");
            }
            transport = transport.startTls(tls);
            // The spec: no negotiation state survives STARTTLS.
            structured = false;
            extended = false;
            metaExport = null;
            metaBaseAllocation = false;
        }
    }

    private void metaContext(OptionRequest.MetaContext m) throws IOException {
        int code = m.code();
        if (m.set()) {
            metaExport = null;
            metaBaseAllocation = false;
        }
        if (!structured) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_INVALID, "negotiate NBD_OPT_STRUCTURED_REPLY first"));
            return;
        }
        Export export = server.export(m.export());
        // A name the resolver may serve is not resolved here (that would run resolver side effects
        // for a query); base:allocation is offered for every Device, so it is accepted by name.
        String selected = export != null ? export.name() : m.export();
        if (export == null && server.resolver() == null) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_UNKNOWN, "no export named '" + m.export() + "'"));
            return;
        }
        boolean match = false;
        if (m.queries().isEmpty()) {
            match = !m.set();
        }
        for (String q : m.queries()) {
            if (q.equals(Wire.BASE_ALLOCATION) || (!m.set() && q.equals("base:"))) {
                match = true;
            }
        }
        if (match) {
            reply(HandshakeEncoder.metaContext(code, m.set() ? Wire.BASE_ALLOCATION_ID : 0, Wire.BASE_ALLOCATION));
            if (m.set()) {
                metaExport = selected;
                metaBaseAllocation = true;
            }
        }
        reply(HandshakeEncoder.ack(code));
    }

    /** The static export of that name, else the resolver's answer; never replies. */
    private Lookup lookup(String name) {
        Export export = server.export(name);
        if (export != null) {
            return new Found(export, null);
        }
        ExportResolver resolver = server.resolver();
        if (resolver == null) {
            return new Missing(Wire.REP_ERR_UNKNOWN, "no export named '" + name + "'");
        }
        try {
            java.util.Optional<ResolvedExport> r = resolver.resolve(name, this);
            if (r == null || r.isEmpty()) {
                return new Missing(Wire.REP_ERR_UNKNOWN, "no export named '" + name + "'");
            }
            return new Found(null, new Resolution(r.get())).withExport();
        } catch (ExportRefusedException e) {
            LOG.log(Level.DEBUG, () -> "connection " + id + " from " + transport.peer() + " refused export '" + name
                    + "': " + e.getMessage());
            return new Missing(Wire.REP_ERR_POLICY, truncate(String.valueOf(e.getMessage())));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, () -> "resolving export '" + name + "' for connection " + id + " failed", e);
            return new Missing(Wire.REP_ERR_UNKNOWN, "export '" + name + "' could not be resolved");
        }
    }

    /** Attaches the export for transmission; a resolution becomes the connection's (closed at its end). */
    private boolean attach(Found found) {
        if (!server.attach(this, found.export())) {
            return false;
        }
        server.attached(found.export().name());
        if (found.resolution() != null) {
            resolution = found.resolution();
        }
        return true;
    }

    /** Closes a resolution that will not be served, before the final reply: a client that saw it knows onClose ran. */
    private static void release(Found found) {
        if (found.resolution() != null) {
            found.resolution().close();
        }
    }

    private static String truncate(String message) {
        byte[] b = message.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (b.length <= Wire.MAX_STRING) {
            return message;
        }
        // cut at a character boundary within the limit
        java.nio.charset.CharsetDecoder d = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.IGNORE);
        try {
            return d.decode(ByteBuffer.wrap(b, 0, Wire.MAX_STRING)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return message.substring(0, Wire.MAX_STRING / 4);
        }
    }

    private Negotiated info(OptionRequest.Info info) throws IOException {
        int code = info.code();
        Found found;
        switch (lookup(info.name())) {
            case Found f -> found = f;
            case Missing m -> {
                reply(HandshakeEncoder.error(code, m.error(), m.message()));
                return null;
            }
        }
        boolean keep = false;
        try {
            Negotiated n = info(info, found);
            keep = n != null;
            return n;
        } finally {
            if (!keep && found.resolution() != null) {
                found.resolution().close(); // INFO, or a GO that failed: the resolution must not leak
            }
        }
    }

    private Negotiated info(OptionRequest.Info info, Found found) throws IOException {
        int code = info.code();
        Export export = found.export();
        long size;
        try {
            size = export.device().size();
        } catch (IOException e) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_UNKNOWN, "export '" + export.name() + "' is unavailable: "
                    + e.getMessage()));
            return null;
        }
        int flags = export.transmissionFlags(structured);
        BlockSizes sizes = Export.blockSizes(export.device(), server.connectionByteBudget());
        List<ByteBuffer> out = new ArrayList<>();
        out.add(HandshakeEncoder.infoExport(code, size, flags));
        if (info.requests().contains(Wire.INFO_NAME) || !info.name().equals(export.name())) {
            out.add(HandshakeEncoder.infoString(code, Wire.INFO_NAME, export.name()));
        }
        if (info.requests().contains(Wire.INFO_DESCRIPTION) && !export.description().isEmpty()) {
            out.add(HandshakeEncoder.infoString(code, Wire.INFO_DESCRIPTION, export.description()));
        }
        boolean sizesAsked = info.requests().contains(Wire.INFO_BLOCK_SIZE);
        out.add(HandshakeEncoder.infoBlockSize(code, sizes.minimum(), sizes.preferred(), sizes.maximum()));
        if (info.go() && !sizesAsked && sizes.minimum() > 512) {
            out.add(HandshakeEncoder.error(code, Wire.REP_ERR_BLOCK_SIZE_REQD, "export '" + export.name()
                    + "' needs a minimum block size of " + sizes.minimum() + ": request NBD_INFO_BLOCK_SIZE"));
            release(found);
            reply(out.toArray(new ByteBuffer[0]));
            return null;
        }
        if (info.go() && !attach(found)) {
            reply(HandshakeEncoder.error(code, Wire.REP_ERR_UNKNOWN, "export '" + export.name() + "' was removed"));
            return null;
        }
        out.add(HandshakeEncoder.ack(code));
        if (!info.go()) {
            release(found);
        }
        reply(out.toArray(new ByteBuffer[0]));
        return info.go() ? negotiated(export, flags, info.name()) : null;
    }
}

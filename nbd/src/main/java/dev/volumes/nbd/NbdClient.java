package dev.volumes.nbd;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Opens {@link NbdDevice}s: Devices whose bytes live on an NBD server (ours, nbdkit, qemu-nbd,
 * nbd-server ...). Either from a URI ({@link #open(String)}, upstream {@code doc/uri.md}):
 *
 * <pre>{@code
 * nbd://host[:port]/export                 TCP, port 10809 by default, export "" if no path
 * nbds://host[:port]/export                TCP with TLS required (STARTTLS)
 * nbd+unix:///export?socket=/run/nbd.sock  Unix domain socket
 * nbds+unix:///export?socket=PATH          Unix socket with TLS required
 * query: tls-certificates=DIR (ca-cert.pem [+ client-cert.pem, client-key.pem]),
 *        tls-verify-peer=false, tls-hostname=NAME
 * }</pre>
 *
 * or from a {@link #builder()}. {@code open} connects and negotiates before it returns; the
 * returned device is connected and thread-safe. See {@link NbdDevice} for timeouts, reconnect and
 * error mapping, and docs/nbd.md ("Client").
 */
public final class NbdClient {

    private NbdClient() {}

    /** A new builder with defaults: port 10809, export "", one connection, 60 s timeouts. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Opens the export named by an NBD URI with default settings.
     *
     * @throws IllegalArgumentException if the URI is malformed
     * @throws NbdRefusedException if the server refused (unknown export, TLS required, policy)
     * @throws IOException if the server cannot be reached or the handshake fails
     */
    public static NbdDevice open(String uri) throws IOException {
        return builder().uri(uri).open();
    }

    /** Settings of one client, fixed at {@link Builder#open()}. */
    record Config(ClientHandshake.Target target, int connections, Duration requestTimeout,
            Duration reconnectDeadline, Duration handshakeTimeout, long journalBytes) {

        String describe() {
            String scheme = (target.tls() != null ? "nbds" : "nbd") + (target.socket() != null ? "+unix" : "");
            return target.socket() != null
                    ? scheme + ":///" + target.exportName() + "?socket=" + target.socket()
                    : scheme + "://" + (target.host().contains(":") ? "[" + target.host() + "]" : target.host()) + ":"
                            + target.port() + "/" + target.exportName();
        }
    }

    /**
     * Immutable-by-use builder of an NBD client: every setter returns this builder; {@link #open()}
     * may be called more than once (each call opens an independent device). Not thread-safe.
     */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = NbdUri.DEFAULT_PORT;
        private Path socket;
        private String exportName = "";
        private int connections = 1;
        private Duration requestTimeout = Duration.ofSeconds(60);
        private Duration reconnectDeadline = Duration.ofSeconds(60);
        private Duration handshakeTimeout = Duration.ofSeconds(30);
        private NbdClientTls tls;
        private boolean tlsFromUri;
        private Path uriCertificates;
        private boolean uriVerifyPeer = true;
        private String uriHostname;
        private boolean extendedHeaders = true;
        private long journalBytes = 64L << 20;

        private Builder() {}

        /**
         * Takes server, export and TLS settings from an NBD URI (see {@link NbdClient}); later
         * setters override them. An {@code nbds} URI without {@code tls-certificates} trusts the
         * JDK's default CAs unless {@link #tls} is given.
         *
         * @throws IllegalArgumentException if the URI is malformed or asks for TLS-PSK
         */
        public Builder uri(String uri) {
            NbdUri u = NbdUri.parse(uri);
            this.host = u.host() == null ? this.host : u.host();
            this.port = u.port();
            this.socket = u.socket();
            this.exportName = u.exportName();
            this.tlsFromUri = u.tls();
            this.uriCertificates = u.tlsCertificates();
            this.uriVerifyPeer = u.tlsVerifyPeer();
            this.uriHostname = u.tlsHostname();
            return this;
        }

        /** TCP host name or address (default 127.0.0.1); clears a Unix socket. */
        public Builder host(String host) {
            if (host == null || host.isEmpty()) {
                throw new IllegalArgumentException("host is empty");
            }
            this.host = host;
            this.socket = null;
            return this;
        }

        /** TCP port, 1..65535 (default 10809). */
        public Builder port(int port) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port must be in [1, 65535]: " + port);
            }
            this.port = port;
            return this;
        }

        /** Connect to a Unix domain socket instead of TCP. */
        public Builder unixSocket(Path socket) {
            if (socket == null) {
                throw new IllegalArgumentException("socket path is null");
            }
            this.socket = socket;
            return this;
        }

        /** Export name (default ""; at most 4096 UTF-8 bytes). */
        public Builder exportName(String name) {
            if (name == null || name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > Wire.MAX_STRING) {
                throw new IllegalArgumentException("export name must be non-null and at most 4096 bytes");
            }
            this.exportName = name;
            return this;
        }

        /**
         * How many connections to open (1..16, default 1). Used only if the server advertises
         * {@code CAN_MULTI_CONN}; otherwise one connection is used.
         */
        public Builder connections(int count) {
            if (count < 1 || count > 16) {
                throw new IllegalArgumentException("connections must be in [1, 16]: " + count);
            }
            this.connections = count;
            return this;
        }

        /**
         * How long one request may wait for its reply (default 60 s). On expiry the request fails
         * with an {@link IOException} and its connection is closed and later re-established.
         */
        public Builder requestTimeout(Duration timeout) {
            this.requestTimeout = positive(timeout, "request timeout");
            return this;
        }

        /**
         * How long to keep reconnecting after a connection dropped before failing the requests
         * waiting for it and the device (default 60 s; zero = never reconnect).
         */
        public Builder reconnectDeadline(Duration deadline) {
            if (deadline == null || deadline.isNegative()) {
                throw new IllegalArgumentException("reconnect deadline must be >= 0: " + deadline);
            }
            this.reconnectDeadline = deadline;
            return this;
        }

        /**
         * Bytes of acknowledged but unflushed writes kept for replay after a reconnect (default
         * 64 MiB; 0 = none). With the journal, a connection that drops while the server may have
         * lost acknowledged unflushed writes (it restarted) is re-established, the journal is
         * re-sent before any other request, and the next {@link NbdDevice#sync()} makes every
         * acknowledged write durable. Each non-FUA write is sent from one pooled copy that the
         * journal keeps until a flush covers it; overwrites of a range replace its entry. If more
         * than this many bytes are unflushed, the journal is dropped until the next flush, and a
         * drop in that window (or any drop with unflushed writes when 0) fails the device stop
         * for writes, as documented in docs/nbd.md.
         */
        public Builder replayJournal(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("replay journal must be >= 0 bytes: " + bytes);
            }
            this.journalBytes = bytes;
            return this;
        }

        /** Bound on connecting plus the whole handshake (default 30 s). */
        public Builder handshakeTimeout(Duration timeout) {
            this.handshakeTimeout = positive(timeout, "handshake timeout");
            return this;
        }

        /** Requires TLS (STARTTLS) with these settings; null turns TLS off. */
        public Builder tls(NbdClientTls tls) {
            this.tls = tls;
            this.tlsFromUri = tls != null;
            return this;
        }

        /** Whether to ask for extended headers (default true); for tests of the fallback. */
        Builder extendedHeaders(boolean on) {
            this.extendedHeaders = on;
            return this;
        }

        /**
         * Connects, negotiates and returns the device.
         *
         * @throws NbdRefusedException if the server refused the handshake
         * @throws IOException if it cannot be reached or misbehaves (the message names it)
         */
        public NbdDevice open() throws IOException {
            NbdClientTls t = tls;
            if (t == null && tlsFromUri) {
                t = uriCertificates != null ? NbdClientTls.fromDirectory(uriCertificates) : NbdClientTls.systemTrust();
                if (!uriVerifyPeer) {
                    t = t.withoutPeerVerification();
                }
                if (uriHostname != null) {
                    t = t.hostname(uriHostname);
                }
            }
            if (t != null && socket != null && !t.hasHostname()) {
                t = t.withoutHostnameCheck(); // a Unix socket has no host name; the chain is still verified
            }
            ClientHandshake.Target target = new ClientHandshake.Target(socket == null ? host : null, port, socket,
                    exportName, t, extendedHeaders);
            Config config = new Config(target, connections, requestTimeout, reconnectDeadline, handshakeTimeout,
                    journalBytes);
            ClientHandshake.Session first = ClientHandshake.connect(target, handshakeTimeout);
            try {
                return new NbdDevice(config, first);
            } catch (IOException | RuntimeException e) {
                first.transport().close();
                throw e;
            }
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + d);
            }
            return d;
        }
    }
}

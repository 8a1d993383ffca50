package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.nbd.NbdClientTls;
import java.io.IOException;
import java.time.Duration;

/**
 * Opens a session to a replica that lives behind a term-fenced endpoint (a {@link ReplicaServer}
 * export reached over NBD, or in-process through {@link ReplicaServer#localConnector(String)}).
 * The engine calls it at open, when a rebuild reattaches a replica, and to find out whether a
 * failed replica fenced it.
 *
 * <p>Implementations must be thread-safe. Each call opens a new session; a successful return
 * means the replica has durably promised {@code term} (or an equal one) and that every request of
 * an older session of the same export will fail from now on.
 */
public interface ReplicaConnector {

    /**
     * Claims the replica for {@code term} and returns a device for the session.
     *
     * @param term the writer's term
     * @param writer the writer's id, recorded by the replica for error messages
     * @throws FencedException if the replica has promised a newer term
     * @throws IOException if the replica cannot be reached or refused for another reason
     */
    Device connect(long term, String writer) throws IOException;

    /** Where the replica is, for messages ({@code nbd://host:port/export}, {@code local:export}). */
    String describe();

    /**
     * A replica export of a {@link ReplicaServer} reached over NBD (plain TCP), with a 10 s
     * request timeout, a 10 s reconnect deadline and a 10 s handshake timeout. Same as
     * {@code nbdBuilder(host, port, export).build()}.
     *
     * @throws IllegalArgumentException if host or export is empty, the export contains ';' or
     *     the port is not in 1..65535
     */
    static ReplicaConnector nbd(String host, int port, String export) {
        return nbdBuilder(host, port, export).build();
    }

    /**
     * A replica export of a {@link ReplicaServer} reached over NBD, plain TCP. Same as
     * {@code nbdBuilder(host, port, export).requestTimeout(requestTimeout)
     * .reconnectDeadline(reconnectDeadline).build()}.
     */
    static ReplicaConnector nbd(String host, int port, String export, Duration requestTimeout,
            Duration reconnectDeadline) {
        return nbdBuilder(host, port, export).requestTimeout(requestTimeout).reconnectDeadline(reconnectDeadline)
                .build();
    }

    /**
     * A builder of a connector to replica export {@code export} of the {@link ReplicaServer} at
     * {@code host:port}, over NBD: TLS and timeouts are set on the builder. The writer's term
     * and id travel in the export name ({@code export;term=T;writer=W}, docs/replication.md
     * "Wire"); a fencing refusal — at the claim, or for a request of a session a newer claim
     * superseded — surfaces as {@link FencedException}.
     *
     * <pre>{@code
     * ReplicaConnector c = ReplicaConnector.nbdBuilder("10.0.0.2", 10809, "vol1")
     *         .tls(NbdClientTls.fromDirectory(Path.of("/etc/volumes/tls")))  // ca-cert.pem [+ client cert]
     *         .requestTimeout(Duration.ofSeconds(10))
     *         .build();
     * }</pre>
     *
     * @throws IllegalArgumentException if host or export is empty, the export contains ';' or
     *     the port is not in 1..65535
     */
    static NbdBuilder nbdBuilder(String host, int port, String export) {
        return new NbdBuilder(host, port, export);
    }

    /**
     * Settings of an NBD replica connector; every setter returns this builder, {@link #build()}
     * may be called more than once. Not thread-safe; the connectors it builds are.
     */
    final class NbdBuilder {
        private final String host;
        private final int port;
        private final String export;
        private NbdClientTls tls;
        private Duration requestTimeout = Duration.ofSeconds(10);
        private Duration reconnectDeadline = Duration.ofSeconds(10);
        private Duration handshakeTimeout = Duration.ofSeconds(10);

        private NbdBuilder(String host, int port, String export) {
            NbdConnector.check(host, port, export);
            this.host = host;
            this.port = port;
            this.export = export;
        }

        /**
         * Connect with TLS (STARTTLS, TLS 1.3) using the nbd module's client settings: which CAs
         * to trust, the host name to check, and a client certificate for servers that require
         * one ({@code NbdTls.clientCertificates}); null (the default) is plain TCP. Use TLS
         * across hosts: on plain TCP anyone who can reach the port can claim with a higher term.
         */
        public NbdBuilder tls(NbdClientTls tls) {
            this.tls = tls;
            return this;
        }

        /**
         * How long one request may wait for its reply before its connection is cut (default
         * 10 s; keep it at or above the engine's write timeout).
         */
        public NbdBuilder requestTimeout(Duration timeout) {
            this.requestTimeout = positive(timeout, "request timeout");
            return this;
        }

        /** How long the client keeps reconnecting after a dropped connection (default 10 s; zero: never). */
        public NbdBuilder reconnectDeadline(Duration deadline) {
            if (deadline == null || deadline.isNegative()) {
                throw new IllegalArgumentException("reconnect deadline must be >= 0: " + deadline);
            }
            this.reconnectDeadline = deadline;
            return this;
        }

        /** Bound on connecting plus the whole handshake, TLS included (default 10 s). */
        public NbdBuilder handshakeTimeout(Duration timeout) {
            this.handshakeTimeout = positive(timeout, "handshake timeout");
            return this;
        }

        /** The connector; it connects only when the engine claims the replica. */
        public ReplicaConnector build() {
            return new NbdConnector(host, port, export, tls, requestTimeout, reconnectDeadline, handshakeTimeout);
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + d);
            }
            return d;
        }
    }
}

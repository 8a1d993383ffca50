package dev.volumes.nbd;

import java.net.SocketAddress;
import java.security.Principal;
import java.util.Optional;

/**
 * One client connection as seen by an {@link ExportResolver}. Thread-safe; valid for the whole
 * life of the connection (methods keep working, as no-ops or with stale values, after it ended).
 */
public interface ClientConnection {

    /** The client's address: an {@code InetSocketAddress} for TCP, a {@code UnixDomainSocketAddress} otherwise. */
    SocketAddress remoteAddress();

    /**
     * The identity of the client's verified TLS certificate, if the connection is encrypted and
     * the client presented one; empty otherwise (plaintext, or TLS without a client certificate).
     */
    Optional<Principal> tlsPeer();

    /**
     * Closes the connection at once, logging {@code reason}. Requests not yet started are never
     * executed; requests already running on the device may finish, but their replies need not
     * be sent (the client sees a dropped connection). Does not wait; idempotent; never throws.
     */
    void disconnect(String reason);
}

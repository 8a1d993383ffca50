package dev.volumes.nbd;

import java.util.Optional;

/**
 * Supplies an export for one connection when a client asks for a name that is not a statically
 * added export ({@link NbdServer#addExport}); set with {@link NbdServer.Builder#exportResolver}.
 *
 * <p>Static exports always take precedence: the resolver is only asked for names the server does
 * not hold. The {@link ResolvedExport} returned is served to the asking connection only (it is not
 * listed by {@code NBD_OPT_LIST}, and {@code CAN_MULTI_CONN} is not advertised for it), and its
 * {@link ResolvedExport#onClose()} runs exactly once when that connection stops using it.
 *
 * <p>Threading: called on the connection's (virtual) thread during its handshake, possibly from
 * many connections at once; it may block (the handshake timeout still applies). A
 * {@link RuntimeException} thrown here is logged and answered like an unknown export.
 */
@FunctionalInterface
public interface ExportResolver {

    /**
     * Called during the handshake (OPT_GO, OPT_INFO, OPT_EXPORT_NAME) for a name that is not a
     * statically added export. Empty → NBD_REP_ERR_UNKNOWN.
     *
     * @param exportName the name the client asked for (may be "")
     * @param connection the asking connection: its peer, TLS identity, and a way to cut it later
     * @return the export to serve to this connection, or empty if there is none of that name
     * @throws ExportRefusedException to refuse with {@code NBD_REP_ERR_POLICY}; its message
     *     is sent to the client
     */
    Optional<ResolvedExport> resolve(String exportName, ClientConnection connection) throws ExportRefusedException;
}

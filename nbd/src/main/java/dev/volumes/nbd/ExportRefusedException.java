package dev.volumes.nbd;

/**
 * Thrown by an {@link ExportResolver} to refuse a client: the server answers the option with
 * {@code NBD_REP_ERR_POLICY} carrying {@link #getMessage()} (truncated to 4096 bytes), so the
 * client's tools show it. For {@code NBD_OPT_EXPORT_NAME}, which cannot carry an error, the
 * connection is closed and the message is logged.
 */
public final class ExportRefusedException extends Exception {

    private static final long serialVersionUID = 1L;

    /** @param message why the client is refused; shown to the client */
    public ExportRefusedException(String message) {
        super(message);
    }
}

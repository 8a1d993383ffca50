package dev.volumes.nbd;

import java.io.IOException;

/**
 * The server answered the handshake with a refusal ({@code NBD_REP_ERR_POLICY},
 * {@code NBD_REP_ERR_UNKNOWN}, {@code NBD_REP_ERR_TLS_REQD}, ...). A refusal is an answer, not an
 * outage: {@link NbdClient} never retries it, neither when opening nor when reconnecting.
 */
public final class NbdRefusedException extends IOException {

    private final int errorType;
    private final String serverMessage;

    /**
     * @param server the server as "host:port" or a socket path, for the message
     * @param export the export asked for
     * @param option the option that was refused, e.g. "NBD_OPT_GO"
     * @param errorType the {@code NBD_REP_ERR_*} value (high bit set)
     * @param serverMessage the text the server sent with the error, possibly empty
     */
    public NbdRefusedException(String server, String export, String option, int errorType, String serverMessage) {
        super("nbd server " + server + " refused " + option + " for export '" + export + "': "
                + errorName(errorType) + (serverMessage.isEmpty() ? "" : " (" + serverMessage + ")"));
        this.errorType = errorType;
        this.serverMessage = serverMessage;
    }

    /** The {@code NBD_REP_ERR_*} reply type, e.g. {@code 0x80000006} for ERR_UNKNOWN. */
    public int errorType() {
        return errorType;
    }

    /** The human-readable text the server sent with the refusal; empty if none. */
    public String serverMessage() {
        return serverMessage;
    }

    static String errorName(int type) {
        return switch (type) {
            case Wire.REP_ERR_UNSUP -> "NBD_REP_ERR_UNSUP";
            case Wire.REP_ERR_POLICY -> "NBD_REP_ERR_POLICY";
            case Wire.REP_ERR_INVALID -> "NBD_REP_ERR_INVALID";
            case Wire.REP_ERR_PLATFORM -> "NBD_REP_ERR_PLATFORM";
            case Wire.REP_ERR_TLS_REQD -> "NBD_REP_ERR_TLS_REQD";
            case Wire.REP_ERR_UNKNOWN -> "NBD_REP_ERR_UNKNOWN";
            case Wire.REP_ERR_SHUTDOWN -> "NBD_REP_ERR_SHUTDOWN";
            case Wire.REP_ERR_BLOCK_SIZE_REQD -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
            case Wire.REP_ERR_TOO_BIG -> "NBD_REP_ERR_TOO_BIG";
            default -> String.format("NBD_REP_ERR 0x%08x", type);
        };
    }
}

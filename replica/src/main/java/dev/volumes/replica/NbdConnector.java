package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.nbd.NbdClient;
import dev.volumes.nbd.NbdClientTls;
import dev.volumes.nbd.NbdRefusedException;
import java.io.IOException;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Claims a {@link ReplicaServer} export over NBD: the term travels in the export name
 * ({@code vol;term=7;writer=nodeA}), and a fencing refusal comes back as a
 * {@link FencedException}: at the claim ({@code NBD_REP_ERR_POLICY} whose text starts with
 * "fenced:"), and for a request of a superseded session (an {@code EIO} error reply whose
 * structured-reply message is the fence's "fenced: replica … has promised term P, refusing term
 * R (… session of term R … superseded by term P …)", see {@link FencedSessionDevice}).
 */
record NbdConnector(String host, int port, String export, NbdClientTls tls, Duration requestTimeout,
        Duration reconnectDeadline, Duration handshakeTimeout) implements ReplicaConnector {

    private static final Pattern TERMS = Pattern.compile("promised term (\\d+), refusing term (\\d+)");
    /** The fence's refusal ({@link FencedException}'s message) inside an NBD error reply's text. */
    private static final Pattern REPLY = Pattern.compile(
            "fenced: replica \\S+ has promised term (\\d+), refusing term (\\d+)");

    NbdConnector {
        check(host, port, export);
    }

    static void check(String host, int port, String export) {
        if (host == null || host.isEmpty() || port < 1 || port > 65535 || export == null || export.isEmpty()
                || export.contains(";")) {
            throw new IllegalArgumentException("nbd replica needs host, port 1..65535 and an export without ';': "
                    + host + ":" + port + "/" + export);
        }
    }

    @Override
    public Device connect(long term, String writer) throws IOException {
        String name = new ExportName(export, term, writer).format();
        try {
            return new FencedSessionDevice(NbdClient.builder().host(host).port(port).exportName(name).tls(tls)
                    .requestTimeout(requestTimeout).reconnectDeadline(reconnectDeadline)
                    .handshakeTimeout(handshakeTimeout).open(), describe());
        } catch (NbdRefusedException e) {
            FencedException f = asFenced(e, describe());
            throw f != null ? f : e;
        }
    }

    @Override
    public String describe() {
        return (tls != null ? "nbds://" : "nbd://") + (host.contains(":") ? "[" + host + "]" : host) + ":" + port
                + "/" + export;
    }

    /**
     * The fencing refusal inside {@code t}'s cause chain, as a {@link FencedException}; null if
     * none: a FencedException, a handshake refusal whose text starts with "fenced:", or an NBD
     * error reply (EIO) whose message is the fence's refusal of a superseded session's request.
     */
    static FencedException asFenced(Throwable t, String where) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof FencedException f) {
                return f;
            }
            if (c instanceof NbdRefusedException r && r.serverMessage() != null
                    && r.serverMessage().startsWith("fenced:")) {
                Matcher m = TERMS.matcher(r.serverMessage());
                long promised = m.find() ? Long.parseLong(m.group(1)) : 0;
                long refused = m.find(0) ? Long.parseLong(m.group(2)) : 0;
                return new FencedException(where, refused, promised, "server said: " + r.serverMessage());
            }
            if (c instanceof IOException && !(c instanceof NbdRefusedException) && c.getMessage() != null) {
                Matcher m = REPLY.matcher(c.getMessage());
                if (m.find()) {
                    String text = c.getMessage().substring(m.start());
                    if (text.endsWith(")")) {
                        text = text.substring(0, text.length() - 1); // the client's "EIO (...)" wrapping
                    }
                    return new FencedException(where, Long.parseLong(m.group(2)), Long.parseLong(m.group(1)),
                            "server said: " + text);
                }
            }
        }
        return null;
    }
}

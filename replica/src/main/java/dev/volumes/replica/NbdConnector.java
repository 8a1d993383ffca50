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
 * ({@code vol;term=7;writer=nodeA;session=N}), and a fencing refusal comes back as a
 * {@link FencedException}: at the claim ({@code NBD_REP_ERR_POLICY} whose text starts with
 * "fenced:"), and for a request of a superseded session (an {@code EIO} error reply whose
 * structured-reply message is the fence's "fenced: replica … has promised term P, refusing term
 * R (… session of term R … superseded by term P … [fence promised-term=P promised-writer=W])",
 * see {@link FencedSessionDevice}) — in both cases only if the promise fences this session
 * ({@link #asFenced}).
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

    /**
     * Claims with a new session number of this process ({@link ExportName#nextSession()}); its
     * client reconnects with the same name, so a reconnect is the same session. A replica server
     * from before session numbers refuses the parameter: then the claim is repeated without it
     * (and that server cannot refuse a stale session of this writer, docs/replication.md §2).
     */
    @Override
    public Device connect(long term, String writer) throws IOException {
        try {
            return open(new ExportName(export, term, writer, ExportName.nextSession()), term, writer);
        } catch (NbdRefusedException e) {
            String m = e.serverMessage();
            if (m == null || !m.contains("unknown parameter 'session'")) {
                throw e;
            }
        }
        return open(new ExportName(export, term, writer), term, writer);
    }

    private Device open(ExportName name, long term, String writer) throws IOException {
        try {
            return new FencedSessionDevice(NbdClient.builder().host(host).port(port).exportName(name.format()).tls(tls)
                    .requestTimeout(requestTimeout).reconnectDeadline(reconnectDeadline)
                    .handshakeTimeout(handshakeTimeout).open(), describe(), term, writer);
        } catch (NbdRefusedException e) {
            FencedException f = asFenced(e, describe(), term, writer);
            if (f != null) {
                throw f;
            }
            throw e;
        }
    }

    @Override
    public String describe() {
        return (tls != null ? "nbds://" : "nbd://") + (host.contains(":") ? "[" + host + "]" : host) + ":" + port
                + "/" + export;
    }

    /**
     * The fencing refusal inside {@code t}'s cause chain, as a {@link FencedException}, for a
     * session of {@code term} held by {@code writer}; null if none. A FencedException in the chain
     * is returned as it is (only a fencing refusal is thrown as one). A server's text — a handshake
     * refusal starting with "fenced:", or an error reply (EIO) whose message is the fence's refusal
     * of a superseded session's request — counts only if it fences this session: the promise in its
     * {@link FenceToken} tail is a newer term, or this term for another writer. Without the tail (a
     * truncated message) a handshake refusal counts (a claim is refused only for those reasons) and
     * a request's refusal counts only if its promised term is strictly newer than {@code term}.
     */
    static FencedException asFenced(Throwable t, String where, long term, String writer) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof FencedException f) {
                return f;
            }
            String text;
            boolean handshake;
            if (c instanceof NbdRefusedException r) {
                handshake = true;
                text = r.serverMessage() != null && r.serverMessage().startsWith("fenced:") ? r.serverMessage() : null;
            } else if (c instanceof IOException && c.getMessage() != null) {
                handshake = false;
                Matcher m = REPLY.matcher(c.getMessage());
                text = m.find() ? c.getMessage().substring(m.start()) : null;
                if (text != null && text.endsWith(")")) {
                    text = text.substring(0, text.length() - 1); // the client's "EIO (...)" wrapping
                }
            } else {
                continue;
            }
            if (text == null) {
                continue;
            }
            Matcher terms = TERMS.matcher(text);
            long promised = terms.find() ? Long.parseLong(terms.group(1)) : 0;
            long refused = terms.find(0) ? Long.parseLong(terms.group(2)) : term;
            FenceToken.Promise p = FenceToken.parse(text);
            boolean fences = p != null ? FenceToken.fences(p.term(), p.writer(), term, writer)
                    : handshake || promised > term;
            if (!fences) {
                return null; // e.g. this writer's own newer session replaced the one that was refused
            }
            return new FencedException(where, refused, p != null ? p.term() : promised, "server said: " + text);
        }
        return null;
    }
}

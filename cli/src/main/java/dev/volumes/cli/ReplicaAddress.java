package dev.volumes.cli;

import dev.volumes.nbd.NbdClientTls;
import dev.volumes.replica.ReplicaConnector;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A replica of an HA volume as {@code ha run --replica} takes it: {@code [ID=]nbd://HOST[:PORT]/EXPORT}
 * or {@code [ID=]nbds://HOST[:PORT]/EXPORT?tls-certificates=DIR} (DIR holds {@code ca-cert.pem} and,
 * for servers that check clients, {@code client-cert.pem} and {@code client-key.pem}, as libnbd
 * reads it). The id names the replica in status, metrics and state files; by default it is
 * {@code HOST:PORT/EXPORT}, so every node that lists the same addresses agrees on it.
 */
record ReplicaAddress(String id, String host, int port, String export, Path tlsDirectory) {

    static final int DEFAULT_PORT = 10809;

    /** Parses one {@code --replica} value; malformed values are exit 2 saying what is expected. */
    static ReplicaAddress parse(String text) {
        String id = null;
        String uriText = text;
        int eq = text.indexOf('=');
        int scheme = text.indexOf("://");
        if (eq > 0 && (scheme < 0 || eq < scheme)) {
            id = text.substring(0, eq);
            uriText = text.substring(eq + 1);
        }
        URI uri;
        try {
            uri = new URI(uriText);
        } catch (URISyntaxException e) {
            throw bad(text, e.getReason());
        }
        boolean tls = "nbds".equals(uri.getScheme());
        if (!tls && !"nbd".equals(uri.getScheme())) {
            throw bad(text, "the scheme must be nbd:// or nbds://");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw bad(text, "no host");
        }
        String export = uri.getPath() == null ? "" : uri.getPath().replaceFirst("^/", "");
        if (export.isEmpty() || export.contains(";")) {
            throw bad(text, "the path must name the replica export (the volume served by 'replica serve'), without ';'");
        }
        Path dir = null;
        if (uri.getQuery() != null) {
            for (String param : uri.getQuery().split("&")) {
                if (param.startsWith("tls-certificates=")) {
                    dir = Path.of(param.substring("tls-certificates=".length()));
                } else {
                    throw bad(text, "unknown parameter '" + param + "' (only tls-certificates=DIR)");
                }
            }
        }
        if (dir != null && !tls) {
            throw bad(text, "tls-certificates needs nbds://");
        }
        if (tls && dir == null) {
            throw bad(text, "nbds:// needs ?tls-certificates=DIR (a directory with ca-cert.pem)");
        }
        int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
        String host = uri.getHost().startsWith("[") ? uri.getHost().substring(1, uri.getHost().length() - 1) : uri.getHost();
        if (id == null) {
            id = (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/" + export;
        } else if (id.isBlank() || id.contains(";")) {
            throw bad(text, "the id before '=' must be non-empty, without ';'");
        }
        return new ReplicaAddress(id, host, port, export, dir);
    }

    private static IllegalArgumentException bad(String text, String why) {
        return new IllegalArgumentException("bad --replica '" + text + "': " + why
                + " (expected [ID=]nbd://HOST:PORT/EXPORT or nbds://HOST:PORT/EXPORT?tls-certificates=DIR)");
    }

    /** The term-fenced connector the replication engine claims this replica with. */
    ReplicaConnector connector(Duration requestTimeout) throws IOException {
        ReplicaConnector.NbdBuilder b = ReplicaConnector.nbdBuilder(host, port, export).requestTimeout(requestTimeout)
                .reconnectDeadline(requestTimeout);
        if (tlsDirectory != null) {
            b.tls(NbdClientTls.fromDirectory(tlsDirectory));
        }
        return b.build();
    }

    @Override
    public String toString() {
        return (tlsDirectory == null ? "nbd://" : "nbds://") + (host.contains(":") ? "[" + host + "]" : host) + ":" + port
                + "/" + export;
    }
}

package dev.volumes.nbd;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An NBD URI (upstream {@code doc/uri.md}) taken apart: {@code nbd://host[:port]/export},
 * {@code nbds://...} (TLS required), {@code nbd+unix:///export?socket=PATH},
 * {@code nbds+unix:///export?socket=PATH}. The export name is the percent-decoded path without
 * its leading slash ("" if absent). Query parameters: {@code socket} (Unix schemes, required),
 * {@code tls-certificates=DIR} (ca-cert.pem, optional client-cert.pem + client-key.pem),
 * {@code tls-verify-peer=false} (accept any server certificate), {@code tls-hostname} (name the
 * certificate must carry). {@code tls-psk-file} and {@code tls-username} are refused (the JDK has
 * no TLS-PSK); other parameters are ignored as the spec allows.
 *
 * @param host TCP host, null for Unix sockets
 * @param port TCP port (default 10809)
 * @param socket Unix socket path, null for TCP
 * @param exportName export name, never null
 * @param tls whether TLS is required (nbds schemes)
 * @param tlsCertificates directory of PEM files, or null
 * @param tlsVerifyPeer false to skip server certificate verification
 * @param tlsHostname host name to verify, or null for the host dialled
 */
record NbdUri(String host, int port, Path socket, String exportName, boolean tls, Path tlsCertificates,
        boolean tlsVerifyPeer, String tlsHostname) {

    static final int DEFAULT_PORT = 10809;

    /** Parses {@code text}; throws {@link IllegalArgumentException} saying what is wrong. */
    static NbdUri parse(String text) {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not an NBD URI: " + text + ": " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(java.util.Locale.ROOT);
        boolean tls;
        boolean unix;
        switch (scheme) {
            case "nbd" -> { tls = false; unix = false; }
            case "nbds" -> { tls = true; unix = false; }
            case "nbd+unix" -> { tls = false; unix = true; }
            case "nbds+unix" -> { tls = true; unix = true; }
            default -> throw new IllegalArgumentException("unsupported NBD URI scheme '" + scheme + "' in " + text
                    + " (expected nbd, nbds, nbd+unix or nbds+unix)");
        }
        String rawPath = uri.getRawPath() == null ? "" : uri.getRawPath();
        String export = rawPath.startsWith("/") ? rawPath.substring(1) : rawPath;
        export = URLDecoder.decode(export.replace("+", "%2B"), StandardCharsets.UTF_8);
        Map<String, String> query = query(uri.getRawQuery(), text);
        Path certs = query.containsKey("tls-certificates") ? Path.of(query.get("tls-certificates")) : null;
        boolean verify = !"false".equalsIgnoreCase(query.getOrDefault("tls-verify-peer", "true"));
        if (query.containsKey("tls-psk-file") || query.containsKey("tls-username")) {
            throw new IllegalArgumentException("TLS-PSK (tls-psk-file, tls-username) is not supported: " + text);
        }
        if (unix) {
            if (uri.getRawAuthority() != null && !uri.getRawAuthority().isEmpty()) {
                throw new IllegalArgumentException("a " + scheme + " URI has no host: " + text);
            }
            String socket = query.get("socket");
            if (socket == null || socket.isEmpty()) {
                throw new IllegalArgumentException("a " + scheme + " URI needs ?socket=PATH: " + text);
            }
            return new NbdUri(null, DEFAULT_PORT, Path.of(socket), export, tls, certs, verify, query.get("tls-hostname"));
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new IllegalArgumentException("an " + scheme + " URI needs a host: " + text);
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
        return new NbdUri(host, port, null, export, tls, certs, verify, query.get("tls-hostname"));
    }

    private static Map<String, String> query(String raw, String text) {
        Map<String, String> out = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("[&;]")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            if (out.put(key, value) != null) {
                throw new IllegalArgumentException("query parameter '" + key + "' given twice in " + text);
            }
        }
        return out;
    }
}

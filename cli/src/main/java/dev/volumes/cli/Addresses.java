package dev.volumes.cli;

import java.net.InetSocketAddress;

/** Parses {@code HOST:PORT}, {@code [IPV6]:PORT} and {@code :PORT} (meaning 127.0.0.1). */
final class Addresses {

    private Addresses() {}

    static InetSocketAddress parse(String text, String what) {
        String t = text.trim();
        int colon = t.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("bad " + what + " '" + text + "': expected HOST:PORT, e.g. 127.0.0.1:10809");
        }
        String host = t.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty()) {
            host = "127.0.0.1";
        }
        int port;
        try {
            port = Integer.parseInt(t.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad " + what + " '" + text + "': the port is not a number");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("bad " + what + " '" + text + "': port out of range 0-65535");
        }
        return new InetSocketAddress(host, port);
    }
}

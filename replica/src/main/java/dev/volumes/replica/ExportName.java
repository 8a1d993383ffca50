package dev.volumes.replica;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The export name a writer sends in the NBD handshake to claim a replica export:
 * {@code <export>;term=<decimal term>;writer=<id>[;session=<decimal number>]}
 * (docs/replication.md "Wire"). Parameters may come in any order; unknown ones are refused so
 * that a typo cannot silently drop the term.
 *
 * @param export the replica export
 * @param term the writer's term, 0 when absent
 * @param writer the writer's id, empty when absent
 * @param session the claim's session number ({@link #nextSession()}), 0 when absent (a client
 *     from before session numbers: the fence does not compare it)
 */
record ExportName(String export, long term, String writer, long session) {

    /**
     * This process's session numbers: strictly increasing, starting from the wall clock in
     * microseconds, so a writer process restarted with the same term and writer id numbers its
     * claims above its predecessor's (unless the clock stepped back by more than the
     * predecessor's lifetime).
     */
    private static final AtomicLong SESSIONS = new AtomicLong(Math.max(1, System.currentTimeMillis() * 1000));

    ExportName(String export, long term, String writer) {
        this(export, term, writer, 0);
    }

    /** A new session number of this process, greater than every one it handed out before. */
    static long nextSession() {
        return SESSIONS.incrementAndGet();
    }

    static ExportName parse(String name) {
        String[] parts = name.split(";", -1);
        long term = 0;
        String writer = "";
        long session = 0;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            int eq = p.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("replica export name " + name + ": parameter '" + p + "' has no '='");
            }
            String key = p.substring(0, eq);
            String value = p.substring(eq + 1);
            switch (key) {
                case "term" -> {
                    term = positive(name, key, value);
                }
                case "writer" -> writer = value;
                case "session" -> session = positive(name, key, value);
                default -> throw new IllegalArgumentException("replica export name " + name
                        + ": unknown parameter '" + key + "' (known: term, writer, session)");
            }
        }
        if (term > 0 && writer.isEmpty()) {
            throw new IllegalArgumentException("replica export name " + name + ": a term needs writer=<id>");
        }
        if (session > 0 && term == 0) {
            throw new IllegalArgumentException("replica export name " + name + ": a session needs term=<n>");
        }
        return new ExportName(parts[0], term, writer, session);
    }

    private static long positive(String name, String key, String value) {
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("replica export name " + name + ": " + key + " '" + value
                    + "' is not a decimal number");
        }
        if (v < 1) {
            throw new IllegalArgumentException("replica export name " + name + ": " + key + " must be >= 1");
        }
        return v;
    }

    String format() {
        return export + ";term=" + term + ";writer=" + writer + (session > 0 ? ";session=" + session : "");
    }
}

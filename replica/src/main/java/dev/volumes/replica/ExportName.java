package dev.volumes.replica;

/**
 * The export name a writer sends in the NBD handshake to claim a replica export:
 * {@code <export>;term=<decimal term>;writer=<id>} (docs/replication.md "Wire"). Parameters may
 * come in any order; unknown ones are refused so that a typo cannot silently drop the term.
 *
 * @param export the replica export
 * @param term the writer's term, 0 when absent
 * @param writer the writer's id, empty when absent
 */
record ExportName(String export, long term, String writer) {

    static ExportName parse(String name) {
        String[] parts = name.split(";", -1);
        long term = 0;
        String writer = "";
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
                    try {
                        term = Long.parseLong(value);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("replica export name " + name + ": term '" + value
                                + "' is not a decimal number");
                    }
                    if (term < 1) {
                        throw new IllegalArgumentException("replica export name " + name + ": term must be >= 1");
                    }
                }
                case "writer" -> writer = value;
                default -> throw new IllegalArgumentException("replica export name " + name
                        + ": unknown parameter '" + key + "' (known: term, writer)");
            }
        }
        if (term > 0 && writer.isEmpty()) {
            throw new IllegalArgumentException("replica export name " + name + ": a term needs writer=<id>");
        }
        return new ExportName(parts[0], term, writer);
    }

    String format() {
        return export + ";term=" + term + ";writer=" + writer;
    }
}

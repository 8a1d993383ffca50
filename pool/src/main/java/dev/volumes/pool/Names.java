package dev.volumes.pool;

/** Volume name rules and map geometry limits. */
final class Names {

    static final int MAX_LENGTH = 64;
    /** Deepest map a volume may have. */
    static final int MAX_DEPTH = 6;

    private Names() {}

    /**
     * Why {@code name} is not a valid volume name, or null if it is. Valid: 1 to 64 characters
     * from {@code A-Z a-z 0-9 . _ - @}, not starting with '.', '-' or '@' (so "." and ".." and
     * option-like names are impossible).
     */
    static String problem(String name) {
        if (name == null) {
            return "volume name is null";
        }
        if (name.isEmpty() || name.length() > MAX_LENGTH) {
            return "volume name '" + name + "' must be 1 to " + MAX_LENGTH + " characters long, is " + name.length();
        }
        char first = name.charAt(0);
        if (first == '.' || first == '-' || first == '@') {
            return "volume name '" + name + "' must not start with '" + first + "' (\".\", \"..\" and option-like"
                    + " names are reserved)";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
                    || c == '_' || c == '-' || c == '@';
            if (!ok) {
                return "volume name '" + name + "' has character '" + c + "' at index " + i
                        + "; allowed are A-Z a-z 0-9 . _ - @";
            }
        }
        return null;
    }

    /** @throws IllegalArgumentException if the name is not valid */
    static void check(String name) {
        String p = problem(name);
        if (p != null) {
            throw new IllegalArgumentException(p);
        }
    }
}

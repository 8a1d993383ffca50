package dev.volumes.oci;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One parsed {@code WWW-Authenticate} challenge (RFC 7235): a scheme and its auth-params, e.g.
 * {@code Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"}. Quoted
 * values may contain commas and backslash escapes.
 *
 * @param scheme lower-case scheme ("bearer", "basic", ...)
 * @param params parameter names in lower case mapped to their unquoted values
 */
record Challenge(String scheme, Map<String, String> params) {

    Challenge {
        params = Map.copyOf(params);
    }

    /** Parses the first challenge of a header value; empty if it is blank or unparseable. */
    static Optional<Challenge> parse(String header) {
        if (header == null) {
            return Optional.empty();
        }
        String s = header.strip();
        int sp = 0;
        while (sp < s.length() && !Character.isWhitespace(s.charAt(sp))) {
            sp++;
        }
        if (sp == 0) {
            return Optional.empty();
        }
        String scheme = s.substring(0, sp).toLowerCase(Locale.ROOT);
        Map<String, String> params = new LinkedHashMap<>();
        int i = sp;
        while (i < s.length()) {
            while (i < s.length() && (s.charAt(i) == ',' || Character.isWhitespace(s.charAt(i)))) {
                i++;
            }
            int eq = s.indexOf('=', i);
            if (eq < 0) {
                break;
            }
            String name = s.substring(i, eq).strip().toLowerCase(Locale.ROOT);
            i = eq + 1;
            StringBuilder value = new StringBuilder();
            if (i < s.length() && s.charAt(i) == '"') {
                i++;
                while (i < s.length() && s.charAt(i) != '"') {
                    char c = s.charAt(i++);
                    if (c == '\\' && i < s.length()) {
                        c = s.charAt(i++);
                    }
                    value.append(c);
                }
                i++; // closing quote
            } else {
                while (i < s.length() && s.charAt(i) != ',') {
                    value.append(s.charAt(i++));
                }
            }
            if (!name.isEmpty() && name.chars().noneMatch(Character::isWhitespace)) {
                params.put(name, value.toString().strip());
            }
        }
        return Optional.of(new Challenge(scheme, params));
    }

    /** The parameter {@code name} (lower case), if present. */
    Optional<String> param(String name) {
        return Optional.ofNullable(params.get(name));
    }
}

package dev.volumes.s3;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One HTTP answer. Header names are matched case-insensitively.
 *
 * @param status HTTP status
 * @param headers response headers as the JDK client reports them
 * @param body the whole body (empty for HEAD)
 */
record S3Response(int status, Map<String, List<String>> headers, byte[] body) {

    /** The first value of header {@code name}, if present. */
    Optional<String> header(String name) {
        for (Map.Entry<String, List<String>> e : headers.entrySet()) {
            if (e.getKey().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT)) && !e.getValue().isEmpty()) {
                return Optional.of(e.getValue().getFirst());
            }
        }
        return Optional.empty();
    }

    boolean ok() {
        return status >= 200 && status < 300;
    }
}

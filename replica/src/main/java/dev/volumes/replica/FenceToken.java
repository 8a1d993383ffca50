package dev.volumes.replica;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The structured tail of a fencing refusal's text: {@code [fence promised-term=8
 * promised-writer=nodeB]} (the writer URL-encoded, so the tail holds no space, ']' or ')'). The
 * {@link TermFence} ends every refusal it makes as a fence with it, and the text crosses NBD as a
 * handshake refusal's or an error reply's message; the client reads the promise back from it and
 * decides with {@link #fences} whether its own session was fenced (docs/replication.md "Wire").
 */
final class FenceToken {

    /** At the end of the text, after which only the closing parentheses of wrapping messages may follow. */
    private static final Pattern TAIL = Pattern.compile(
            "\\[fence promised-term=(\\d+) promised-writer=([^\\s\\])]*)\\]\\)*$");

    private FenceToken() {}

    /** The promise a refusal reports. */
    record Promise(long term, String writer) {}

    /** The tail for a refusal made under the promise of {@code term} to {@code writer}. */
    static String of(long term, String writer) {
        return "[fence promised-term=" + term + " promised-writer=" + URLEncoder.encode(writer, StandardCharsets.UTF_8)
                + "]";
    }

    /** The promise in the tail of {@code text}; null if the text does not end with one (absent or truncated). */
    static Promise parse(String text) {
        if (text == null) {
            return null;
        }
        Matcher m = TAIL.matcher(text);
        if (!m.find()) {
            return null;
        }
        try {
            return new Promise(Long.parseLong(m.group(1)), URLDecoder.decode(m.group(2), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            return null; // an out-of-range number or a bad escape: not ours
        }
    }

    /**
     * Whether a promise of {@code promisedTerm} to {@code promisedWriter} fences a session of
     * {@code term} held by {@code writer}: a strictly newer term, or the same term promised to
     * another writer. The same writer's own term is no fence (its newer session merely replaced
     * the old one).
     */
    static boolean fences(long promisedTerm, String promisedWriter, long term, String writer) {
        return promisedTerm > term || (promisedTerm == term && !promisedWriter.equals(writer));
    }
}

package dev.volumes.cli;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Human byte sizes: parses {@code 4096}, {@code 512K}, {@code 512M}, {@code 10G}, {@code 10GiB},
 * {@code 1T} (binary units; {@code KB}/{@code MB}/{@code GB} are accepted as binary too, as
 * {@code qemu-img} and {@code truncate} do) and formats bytes as {@code 10 GiB}.
 */
final class Sizes {

    private static final Pattern SIZE = Pattern.compile("(\\d+)(?:\\.(\\d+))?\\s*([kmgtpe]?)(i?b?)?",
            Pattern.CASE_INSENSITIVE);
    private static final String UNITS = "KMGTPE";

    private Sizes() {}

    /**
     * Parses a size.
     *
     * @throws IllegalArgumentException with a message showing accepted forms
     */
    static long parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("missing size");
        }
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches() || (m.group(4) != null && !m.group(4).isEmpty() && m.group(3).isEmpty()
                && !m.group(4).equalsIgnoreCase("b"))) {
            throw new IllegalArgumentException("bad size '" + text + "': use bytes or a number with K, M, G, T, P"
                    + " (binary; e.g. 512M, 10G, 10GiB)");
        }
        int power = m.group(3).isEmpty() ? 0 : UNITS.indexOf(m.group(3).toUpperCase(Locale.ROOT)) + 1;
        long multiplier = 1L << (10 * power);
        long whole = Long.parseLong(m.group(1));
        if (whole > Long.MAX_VALUE / multiplier) {
            throw new IllegalArgumentException("size '" + text + "' is too large");
        }
        long bytes = whole * multiplier;
        if (m.group(2) != null) {
            if (power == 0) {
                throw new IllegalArgumentException("bad size '" + text + "': a byte count has no fraction");
            }
            double fraction = Double.parseDouble("0." + m.group(2));
            bytes += (long) Math.floor(fraction * multiplier);
        }
        return bytes;
    }

    /** Formats bytes in the largest binary unit that gives at least 1, e.g. {@code 1.5 GiB}. */
    static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int power = Math.min(6, (63 - Long.numberOfLeadingZeros(bytes)) / 10);
        double value = (double) bytes / (1L << (10 * power));
        String number = value >= 100 || value == Math.rint(value)
                ? String.format(Locale.ROOT, "%.0f", value)
                : String.format(Locale.ROOT, "%.1f", value);
        return number + " " + UNITS.charAt(power - 1) + "iB";
    }
}

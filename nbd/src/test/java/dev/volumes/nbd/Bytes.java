package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/** Hex helpers for golden-byte tests. */
final class Bytes {

    private Bytes() {}

    /** Bytes from hex text; spaces and newlines are ignored. */
    static byte[] hex(String text) {
        return HexFormat.of().parseHex(text.replaceAll("\\s+", ""));
    }

    /** The remaining bytes of {@code b} as lowercase hex, without consuming them. */
    static String hex(ByteBuffer b) {
        byte[] copy = new byte[b.remaining()];
        b.duplicate().get(copy);
        return HexFormat.of().formatHex(copy);
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}

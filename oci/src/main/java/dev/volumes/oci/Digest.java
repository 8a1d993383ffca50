package dev.volumes.oci;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest in the only algorithm volumes produces and accepts: {@code sha256:<64 lower-case
 * hex>}. Immutable; the constructor validates, so a {@code Digest} in hand is always well formed.
 *
 * @param value the full digest string, e.g. {@code sha256:e3b0c442...}
 */
public record Digest(String value) implements Comparable<Digest> {

    private static final Pattern SHA256 = Pattern.compile("sha256:[0-9a-f]{64}");

    /** The digest of zero bytes. */
    public static final Digest EMPTY = sha256(new byte[0]);

    public Digest {
        if (value == null || !SHA256.matcher(value).matches()) {
            throw new IllegalArgumentException("not a sha256 digest (want sha256:<64 lower-case hex>): " + value);
        }
    }

    /** Parses {@code text}; {@link IllegalArgumentException} if it is not a sha256 digest. */
    public static Digest of(String text) {
        return new Digest(text);
    }

    /** Whether {@code text} is a well-formed sha256 digest. */
    public static boolean isDigest(String text) {
        return text != null && SHA256.matcher(text).matches();
    }

    /** The digest of {@code bytes[offset, offset + length)}. */
    public static Digest sha256(byte[] bytes, int offset, int length) {
        MessageDigest md = newSha256();
        md.update(bytes, offset, length);
        return fromHash(md.digest());
    }

    /** The digest of all of {@code bytes}. */
    public static Digest sha256(byte[] bytes) {
        return sha256(bytes, 0, bytes.length);
    }

    /** A fresh SHA-256 hasher for streaming verification. */
    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    /** The digest whose 32-byte hash is {@code hash}. */
    static Digest fromHash(byte[] hash) {
        return new Digest("sha256:" + HexFormat.of().formatHex(hash));
    }

    /** The 64 hex characters after {@code sha256:}. */
    public String hex() {
        return value.substring(7);
    }

    @Override
    public int compareTo(Digest o) {
        return value.compareTo(o.value);
    }

    @Override
    public String toString() {
        return value;
    }
}

package dev.volumes.oci;

import java.io.IOException;

/**
 * Content pulled from a registry (or a local cache) does not hash to the digest it was asked for:
 * the bytes are corrupt or forged and were not used.
 */
public final class DigestMismatchException extends IOException {

    private final Digest expected;
    private final Digest actual;

    /** {@code what} (e.g. "blob from http://host/v2/repo") was {@code expected} but hashed to {@code actual}. */
    public DigestMismatchException(String what, Digest expected, Digest actual) {
        super("digest mismatch for " + what + ": expected " + expected + " but the content hashes to " + actual);
        this.expected = expected;
        this.actual = actual;
    }

    /** The digest that was asked for. */
    public Digest expected() {
        return expected;
    }

    /** The digest of the bytes actually received. */
    public Digest actual() {
        return actual;
    }
}

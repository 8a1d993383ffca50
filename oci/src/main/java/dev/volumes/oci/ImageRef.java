package dev.volumes.oci;

import java.util.regex.Pattern;

/**
 * A manifest inside one registry: a repository and a tag or digest. The registry itself is the
 * {@link RegistryClient}'s, so a ref never names a host.
 *
 * @param repository the repository name ({@code [a-z0-9]+([._-][a-z0-9]+)*} path components)
 * @param reference a tag ({@code [A-Za-z0-9_][A-Za-z0-9._-]{0,127}}) or a {@link Digest} string
 */
public record ImageRef(String repository, String reference) {

    private static final Pattern REPOSITORY =
            Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");

    public ImageRef {
        if (repository == null || !REPOSITORY.matcher(repository).matches()) {
            throw new IllegalArgumentException("bad repository name: " + repository);
        }
        if (reference == null || !(TAG.matcher(reference).matches() || Digest.isDigest(reference))) {
            throw new IllegalArgumentException("bad tag or digest: " + reference);
        }
    }

    /** Parses {@code repo:tag} or {@code repo@sha256:...}. */
    public static ImageRef parse(String text) {
        int at = text.indexOf('@');
        if (at > 0) {
            return new ImageRef(text.substring(0, at), text.substring(at + 1));
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || text.indexOf('/', colon) >= 0) {
            throw new IllegalArgumentException("image ref needs repo:tag or repo@digest: " + text);
        }
        return new ImageRef(text.substring(0, colon), text.substring(colon + 1));
    }

    /** The same repository at {@code digest}. */
    public ImageRef withDigest(Digest digest) {
        return new ImageRef(repository, digest.value());
    }

    /** Whether the reference is a digest rather than a tag. */
    public boolean isDigest() {
        return Digest.isDigest(reference);
    }

    @Override
    public String toString() {
        return repository + (isDigest() ? "@" : ":") + reference;
    }
}

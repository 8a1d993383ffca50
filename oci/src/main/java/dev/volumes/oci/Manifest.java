package dev.volumes.oci;

/**
 * A manifest as fetched from a registry: its exact bytes, which hash to {@code digest} (checked
 * on every pull), and the media type the registry reported.
 *
 * @param mediaType the {@code Content-Type} the registry answered with
 * @param digest the digest of {@code body}
 * @param body the manifest bytes (not copied; do not modify)
 */
public record Manifest(String mediaType, Digest digest, byte[] body) {}

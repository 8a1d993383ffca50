package dev.volumes.oci;

import java.util.Map;

/**
 * An OCI content descriptor: what a manifest says about one blob or manifest it points at.
 *
 * @param mediaType the media type of the referenced content, not empty
 * @param digest its digest
 * @param size its length in bytes, not negative
 * @param artifactType the artifact type of a referenced manifest, or null
 * @param annotations annotations, possibly empty, never null
 */
public record Descriptor(String mediaType, Digest digest, long size, String artifactType,
        Map<String, String> annotations) {

    public Descriptor {
        if (mediaType == null || mediaType.isEmpty()) {
            throw new IllegalArgumentException("descriptor needs a media type");
        }
        if (digest == null) {
            throw new IllegalArgumentException("descriptor needs a digest");
        }
        if (size < 0) {
            throw new IllegalArgumentException("descriptor size is negative: " + size);
        }
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
    }

    /** A descriptor with no artifact type and no annotations. */
    public static Descriptor of(String mediaType, Digest digest, long size) {
        return new Descriptor(mediaType, digest, size, null, Map.of());
    }
}

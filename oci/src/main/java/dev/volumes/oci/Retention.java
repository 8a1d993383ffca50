package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * Tag retention for one repository: keep the tags a predicate selects, delete the manifests only
 * other tags point at, and report the blobs no kept manifest references (the registry's garbage
 * collector reclaims them; the Distribution API has no way to list or safely delete blobs).
 */
public final class Retention {

    /**
     * The outcome of a retention pass.
     *
     * @param kept tags kept
     * @param removed tags whose manifests were (or, in a dry run, would be) deleted
     * @param deletedManifests manifest digests deleted (or to delete); a manifest a kept tag also
     *     points at is never deleted
     * @param unreachableBlobs blob digests referenced by removed manifests and by no kept one, with
     *     their sizes
     */
    public record Report(List<String> kept, List<String> removed, Set<Digest> deletedManifests,
            Map<Digest, Long> unreachableBlobs) {

        /** Total bytes of {@link #unreachableBlobs()}. */
        public long unreachableBytes() {
            return unreachableBlobs.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private Retention() {}

    /**
     * Applies retention to {@code repository}: tags matching {@code keep} stay; manifests of the
     * other tags are deleted unless {@code dryRun}. Blocks; one GET per tag plus one DELETE per
     * deleted manifest.
     *
     * @throws RegistryException if a request fails (deletion disabled gives 405); manifests deleted
     *     before the failure stay deleted
     */
    public static Report apply(RegistryClient client, String repository, Predicate<String> keep, boolean dryRun)
            throws IOException {
        List<String> kept = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        Set<Digest> keptManifests = new TreeSet<>();
        Map<Digest, Map<Digest, Long>> blobsOf = new HashMap<>();
        Map<Digest, Long> reachable = new HashMap<>();
        Set<Digest> candidates = new LinkedHashSet<>();
        for (String tag : client.listTags(repository)) {
            Manifest m = client.getManifest(new ImageRef(repository, tag));
            Map<Digest, Long> blobs = blobsOf.computeIfAbsent(m.digest(), d -> blobs(m));
            if (keep.test(tag)) {
                kept.add(tag);
                keptManifests.add(m.digest());
                reachable.putAll(blobs);
            } else {
                removed.add(tag);
                candidates.add(m.digest());
            }
        }
        candidates.removeAll(keptManifests);
        Map<Digest, Long> unreachable = new TreeMap<>();
        for (Digest manifest : candidates) {
            blobsOf.get(manifest).forEach((d, size) -> {
                if (!reachable.containsKey(d)) {
                    unreachable.put(d, size);
                }
            });
        }
        if (!dryRun) {
            for (Digest manifest : candidates) {
                client.deleteManifest(new ImageRef(repository, manifest.value()));
            }
        }
        return new Report(List.copyOf(kept), List.copyOf(removed), new TreeSet<>(candidates), unreachable);
    }

    /** The config and layer blobs a manifest references (none for an index or unparseable body). */
    private static Map<Digest, Long> blobs(Manifest m) {
        Map<Digest, Long> out = new HashMap<>();
        try {
            JsonNode root = JSON.readTree(m.body());
            List<JsonNode> descriptors = new ArrayList<>();
            descriptors.add(root.path("config"));
            root.path("layers").forEach(descriptors::add);
            for (JsonNode d : descriptors) {
                if (Digest.isDigest(d.path("digest").asText(null))) {
                    out.put(Digest.of(d.path("digest").asText()), d.path("size").asLong(0));
                }
            }
        } catch (IOException notJson) {
            // nothing we can attribute
        }
        return out;
    }
}

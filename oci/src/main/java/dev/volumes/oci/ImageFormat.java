package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The volumes image format: constants, and the exact JSON encoding and validating decoding of the
 * manifest and config. Documented field by field, with a worked example, in docs/oci.md.
 */
public final class ImageFormat {

    /** The manifest's {@code artifactType}. */
    public static final String ARTIFACT_TYPE = "application/vnd.volumes.image.v1";
    /** The config blob's media type. */
    public static final String CONFIG_MEDIA_TYPE = "application/vnd.volumes.image.config.v1+json";
    /** The media type of every chunk layer. */
    public static final String CHUNK_MEDIA_TYPE = "application/vnd.volumes.image.chunk.v1";
    /** Annotation: when the image was made (RFC 3339, UTC). */
    public static final String CREATED = "org.opencontainers.image.created";
    /** Annotation: what the image was made from (a device name, or the base image for a commit). */
    public static final String SOURCE = "dev.volumes.image.source";
    /** Config format version this code writes and reads. */
    public static final int VERSION = 1;
    /** Smallest chunk size (4 KiB). */
    public static final int MIN_CHUNK = 4096;
    /** Largest chunk size (64 MiB). */
    public static final int MAX_CHUNK = 64 << 20;
    /** Default chunk size (4 MiB). */
    public static final int DEFAULT_CHUNK = 4 << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private ImageFormat() {}

    static void checkChunkSize(int chunkSize) {
        if (chunkSize < MIN_CHUNK || chunkSize > MAX_CHUNK || Integer.bitCount(chunkSize) != 1) {
            throw new IllegalArgumentException("chunk size must be a power of two in [" + MIN_CHUNK + ", " + MAX_CHUNK
                    + "]: " + chunkSize);
        }
    }

    /** The config blob bytes (compact JSON, fields in documented order). */
    static byte[] encodeConfig(ImageConfig config) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", VERSION);
        root.put("size", config.size());
        root.put("chunkSize", config.chunkSize());
        ArrayNode chunks = root.putArray("chunks");
        for (Digest d : config.chunks()) {
            if (d == null) {
                chunks.addNull();
            } else {
                chunks.add(d.value());
            }
        }
        return bytes(root);
    }

    /** Parses and validates config bytes; {@link IOException} naming {@code what} if they are not a valid config. */
    static ImageConfig decodeConfig(byte[] bytes, String what) throws IOException {
        JsonNode root = parse(bytes, what);
        if (root.path("version").asInt(-1) != VERSION) {
            throw new IOException(what + ": config version " + root.path("version") + " is not " + VERSION);
        }
        JsonNode size = root.path("size");
        JsonNode chunkSize = root.path("chunkSize");
        if (!size.canConvertToLong() || !chunkSize.canConvertToInt() || !root.path("chunks").isArray()) {
            throw new IOException(what + ": config lacks size, chunkSize or chunks");
        }
        List<Digest> chunks = new ArrayList<>(root.path("chunks").size());
        for (JsonNode c : root.path("chunks")) {
            if (c.isNull()) {
                chunks.add(null);
            } else if (c.isTextual() && Digest.isDigest(c.asText())) {
                chunks.add(Digest.of(c.asText()));
            } else {
                throw new IOException(what + ": chunk entry " + chunks.size() + " is neither null nor a sha256 digest");
            }
        }
        try {
            return new ImageConfig(size.asLong(), chunkSize.asInt(), chunks);
        } catch (IllegalArgumentException e) {
            throw new IOException(what + ": " + e.getMessage(), e);
        }
    }

    /**
     * The manifest bytes: config descriptor, one layer per distinct chunk digest in order of first
     * occurrence ({@code []} when every chunk is a hole), and the annotations given.
     */
    static byte[] encodeManifest(ImageConfig config, Descriptor configBlob, Map<String, String> annotations) {
        ObjectNode root = JSON.createObjectNode();
        root.put("schemaVersion", 2);
        root.put("mediaType", RegistryClient.OCI_MANIFEST);
        root.put("artifactType", ARTIFACT_TYPE);
        root.set("config", descriptorJson(configBlob));
        ArrayNode layers = root.putArray("layers");
        for (Descriptor layer : layers(config)) {
            layers.add(descriptorJson(layer));
        }
        if (!annotations.isEmpty()) {
            ObjectNode a = root.putObject("annotations");
            new java.util.TreeMap<>(annotations).forEach(a::put);
        }
        return bytes(root);
    }

    /** The distinct chunk blobs of {@code config} in order of first occurrence. */
    static List<Descriptor> layers(ImageConfig config) {
        Map<Digest, Descriptor> seen = new LinkedHashMap<>();
        for (int i = 0; i < config.chunkCount(); i++) {
            Digest d = config.chunks().get(i);
            if (d != null && !seen.containsKey(d)) {
                seen.put(d, Descriptor.of(CHUNK_MEDIA_TYPE, d, config.chunkLength(i)));
            }
        }
        return List.copyOf(seen.values());
    }

    /** What a parsed manifest of ours says. */
    record ParsedManifest(Descriptor config, List<Descriptor> layers, Map<String, String> annotations) {}

    /** Parses a manifest and checks it is one of ours (types, config descriptor, layers array). */
    static ParsedManifest decodeManifest(byte[] bytes, String what) throws IOException {
        JsonNode root = parse(bytes, what);
        if (root.path("schemaVersion").asInt() != 2) {
            throw new IOException(what + ": schemaVersion is not 2");
        }
        if (root.has("mediaType") && !RegistryClient.OCI_MANIFEST.equals(root.path("mediaType").asText())) {
            throw new IOException(what + ": mediaType " + root.path("mediaType") + " is not an OCI image manifest");
        }
        if (!ARTIFACT_TYPE.equals(root.path("artifactType").asText())) {
            throw new IOException(what + ": artifactType " + root.path("artifactType") + " is not " + ARTIFACT_TYPE
                    + " (not a volumes image)");
        }
        Descriptor config = descriptor(root.path("config"), what + " config");
        if (!CONFIG_MEDIA_TYPE.equals(config.mediaType())) {
            throw new IOException(what + ": config media type " + config.mediaType() + " is not " + CONFIG_MEDIA_TYPE);
        }
        if (!root.path("layers").isArray()) {
            throw new IOException(what + ": layers is not an array");
        }
        List<Descriptor> layers = new ArrayList<>();
        for (JsonNode l : root.path("layers")) {
            layers.add(descriptor(l, what + " layer " + layers.size()));
        }
        Map<String, String> annotations = new HashMap<>();
        root.path("annotations").properties().forEach(e -> annotations.put(e.getKey(), e.getValue().asText()));
        return new ParsedManifest(config, layers, annotations);
    }

    /** Checks that every chunk of {@code config} is a layer of {@code manifest} with the chunk's length. */
    static void checkConsistent(ImageConfig config, ParsedManifest manifest, String what) throws IOException {
        Map<Digest, Long> sizes = new HashMap<>();
        manifest.layers().forEach(l -> sizes.put(l.digest(), l.size()));
        for (int i = 0; i < config.chunkCount(); i++) {
            Digest d = config.chunks().get(i);
            if (d != null && !Long.valueOf(config.chunkLength(i)).equals(sizes.get(d))) {
                throw new IOException(what + ": chunk " + i + " (" + d + ", " + config.chunkLength(i)
                        + " bytes) is not a layer of that size in the manifest");
            }
        }
    }

    static Descriptor descriptor(JsonNode n, String what) throws IOException {
        if (!n.isObject() || !n.path("mediaType").isTextual() || !Digest.isDigest(n.path("digest").asText(null))
                || !n.path("size").canConvertToLong() || n.path("size").asLong() < 0) {
            throw new IOException(what + ": not a valid descriptor (mediaType, sha256 digest, size)");
        }
        Map<String, String> annotations = new HashMap<>();
        n.path("annotations").properties().forEach(e -> annotations.put(e.getKey(), e.getValue().asText()));
        String artifactType = n.path("artifactType").isTextual() ? n.path("artifactType").asText() : null;
        return new Descriptor(n.path("mediaType").asText(), Digest.of(n.path("digest").asText()),
                n.path("size").asLong(), artifactType, annotations);
    }

    private static ObjectNode descriptorJson(Descriptor d) {
        ObjectNode n = JSON.createObjectNode();
        n.put("mediaType", d.mediaType());
        n.put("digest", d.digest().value());
        n.put("size", d.size());
        if (d.artifactType() != null) {
            n.put("artifactType", d.artifactType());
        }
        if (!d.annotations().isEmpty()) {
            ObjectNode a = n.putObject("annotations");
            new java.util.TreeMap<>(d.annotations()).forEach(a::put);
        }
        return n;
    }

    private static JsonNode parse(byte[] bytes, String what) throws IOException {
        try {
            JsonNode n = JSON.readTree(bytes);
            if (n == null || !n.isObject()) {
                throw new IOException(what + ": not a JSON object");
            }
            return n;
        } catch (IOException e) {
            throw new IOException(what + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    private static byte[] bytes(JsonNode n) {
        try {
            return JSON.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new IllegalStateException("JSON encoding failed", e);
        }
    }
}

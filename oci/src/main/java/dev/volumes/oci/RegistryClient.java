package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A client of one OCI Distribution v1.1 registry. Build one with {@link #builder(URI)}.
 *
 * <p>Promises: every blob and manifest pulled is verified against its digest while it streams
 * (a mismatch throws {@link DigestMismatchException} and nothing is returned); registry errors
 * throw {@link RegistryException} with the status and OCI error codes; refused or missing
 * credentials throw {@link AuthenticationException}; transport failures and 429/5xx answers to
 * replayable requests are retried a bounded number of times with backoff, then thrown as
 * {@link IOException} with the earlier attempts attached as suppressed exceptions. Every call
 * blocks and has a timeout. Thread-safe: share one client between threads.
 */
public final class RegistryClient {

    /** Media type of an OCI image manifest. */
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    /** Media type of an OCI image index. */
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX
            + ", application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    private static final int MAX_MANIFEST = 4 << 20;
    private static final Pattern LINK_NEXT = Pattern.compile("<([^>]*)>\\s*;[^,]*rel=\"?next\"?");

    private final URI base;
    private final Http http;
    private final BlobUploads uploads;
    private final ObjectMapper json = new ObjectMapper();

    RegistryClient(URI base, Http http, int chunkedThreshold, int uploadChunk, int uploadAttempts) {
        this.base = base;
        this.http = http;
        this.uploads = new BlobUploads(base, http, chunkedThreshold, uploadChunk, uploadAttempts);
    }

    /** A builder for a client of the registry at {@code base} (e.g. {@code https://registry.example:5000}). */
    public static RegistryClientBuilder builder(URI base) {
        return new RegistryClientBuilder(base);
    }

    /** The registry's base URI. */
    public URI base() {
        return base;
    }

    /** The registry's {@code host[:port]}, as credentials are keyed. */
    public String host() {
        return base.getRawAuthority();
    }

    /**
     * Checks that the registry speaks the Distribution API ({@code GET /v2/} answers 200), with the
     * configured credentials.
     *
     * @throws AuthenticationException if the credentials are refused
     * @throws RegistryException on any other status
     */
    public void ping() throws IOException {
        URI uri = base.resolve("/v2/");
        HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, "", Map.of(), true));
        Responses.expect(r, "GET", uri, 200);
    }

    /** The size of blob {@code digest} in {@code repository}, or empty if the registry lacks it (HEAD). */
    public Optional<Long> blobSize(String repository, Digest digest) throws IOException {
        URI uri = url(repository, "blobs/" + digest);
        HttpResponse<InputStream> r = http.send(Http.Req.of("HEAD", uri, pull(repository), Map.of(), true));
        Http.drain(r);
        if (r.statusCode() == 404) {
            return Optional.empty();
        }
        Responses.expect(r, "HEAD", uri, 200);
        return Optional.of(r.headers().firstValueAsLong("Content-Length").orElse(-1));
    }

    /**
     * Pulls blob {@code digest} whole, verifying its SHA-256 as it streams.
     *
     * @param maxSize the largest size accepted; a longer blob is refused without reading it all
     * @throws DigestMismatchException if the bytes do not hash to {@code digest}
     * @throws RegistryException (404) if the registry lacks the blob
     */
    public byte[] pullBlob(String repository, Digest digest, int maxSize) throws IOException {
        URI uri = url(repository, "blobs/" + digest);
        HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, pull(repository), Map.of(), true));
        Responses.expectOpen(r, "GET", uri, 200);
        long declared = r.headers().firstValueAsLong("Content-Length").orElse(-1);
        if (declared > maxSize) {
            Http.drain(r);
            throw new IOException("GET " + Http.show(uri) + ": blob is " + declared + " bytes, more than the " + maxSize + " allowed");
        }
        byte[] body = readVerified(r, uri, maxSize, digest, declared);
        return body;
    }

    /**
     * Reads a blob body of at most {@code maxSize} bytes, hashing each piece as it arrives (one
     * pass), and returns it only if it is complete and hashes to {@code digest}.
     */
    private static byte[] readVerified(HttpResponse<InputStream> r, URI uri, int maxSize, Digest digest,
            long declared) throws IOException {
        MessageDigest md = Digest.newSha256();
        byte[] body = new byte[declared >= 0 ? (int) declared : Math.min(maxSize, 1 << 20)];
        int n = 0;
        boolean tooLong = false;
        try (InputStream in = r.body()) {
            while (true) {
                if (n == body.length) {
                    if (n >= maxSize || declared >= 0) {
                        tooLong = in.read() >= 0;
                        break;
                    }
                    body = java.util.Arrays.copyOf(body, (int) Math.min(maxSize, 2L * n));
                }
                int got = in.read(body, n, body.length - n);
                if (got < 0) {
                    break;
                }
                md.update(body, n, got);
                n += got;
            }
        } catch (IOException e) {
            throw new IOException("GET " + Http.show(uri) + " broke off after " + n + " bytes: " + e.getMessage(), e);
        }
        if (tooLong) {
            throw new IOException("GET " + Http.show(uri) + ": content is longer than "
                    + (declared >= 0 ? "the declared " + declared : "the " + maxSize + " allowed") + " bytes");
        }
        if (declared >= 0 && n != declared) {
            throw new IOException("GET " + Http.show(uri) + " broke off after " + n + " of " + declared + " bytes");
        }
        Digest actual = Digest.fromHash(md.digest());
        if (!actual.equals(digest)) {
            throw new DigestMismatchException(Http.show(uri), digest, actual);
        }
        return n == body.length ? body : java.util.Arrays.copyOf(body, n);
    }

    /**
     * Pulls {@code length} bytes of blob {@code digest} starting at {@code offset} with an HTTP
     * Range request. A range cannot be checked against the blob's digest, so callers that need
     * integrity pull whole blobs ({@link #pullBlob}); a registry that ignores Range (200) is
     * handled by skipping to the range.
     */
    public byte[] pullBlobRange(String repository, Digest digest, long offset, int length) throws IOException {
        URI uri = url(repository, "blobs/" + digest);
        String range = "bytes=" + offset + "-" + (offset + length - 1);
        HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, pull(repository), Map.of("Range", range), true));
        if (r.statusCode() != 206 && r.statusCode() != 200) {
            Responses.expectOpen(r, "GET", uri, 206);
        }
        try (InputStream in = r.body()) {
            if (r.statusCode() == 200) {
                in.skipNBytes(offset);
            }
            byte[] out = in.readNBytes(length);
            if (out.length != length) {
                throw new IOException("GET " + Http.show(uri) + " " + range + ": got " + out.length + " of " + length + " bytes");
            }
            return out;
        }
    }

    /**
     * Pushes {@code data[off, off+len)} as blob {@code digest} unless the registry already has it.
     * Blobs up to the builder's chunked threshold go up monolithically (POST then PUT); larger ones
     * in PATCH chunks. A failed upload is restarted from scratch a bounded number of times.
     *
     * @return true if bytes were uploaded, false if the registry already had the blob
     * @throws IllegalArgumentException if the bytes do not hash to {@code digest}
     */
    public boolean pushBlob(String repository, Digest digest, byte[] data, int off, int len) throws IOException {
        if (!Digest.sha256(data, off, len).equals(digest)) {
            throw new IllegalArgumentException("pushBlob: data does not hash to " + digest);
        }
        return pushHashed(repository, digest, data, off, len);
    }

    /** {@link #pushBlob} for bytes the caller has just hashed to {@code digest} itself. */
    boolean pushHashed(String repository, Digest digest, byte[] data, int off, int len) throws IOException {
        if (blobSize(repository, digest).isPresent()) {
            return false;
        }
        uploads.upload(repository, digest, data, off, len);
        return true;
    }

    /**
     * Asks the registry to mount blob {@code digest} from repository {@code from} into
     * {@code repository} without uploading it.
     *
     * @return true if mounted (201); false if the registry declined (it opened an upload session
     *     instead, which is cancelled) and the caller must copy the blob
     */
    public boolean mountBlob(String repository, Digest digest, String from) throws IOException {
        URI uri = url(repository, "blobs/uploads/?mount=" + URLEncoder.encode(digest.value(), StandardCharsets.UTF_8)
                + "&from=" + URLEncoder.encode(from, StandardCharsets.UTF_8));
        HttpResponse<InputStream> r = http.send(Http.Req.of("POST", uri,
                push(repository) + " repository:" + from + ":pull", Map.of(), true));
        Http.drain(r);
        if (r.statusCode() == 201) {
            return true;
        }
        Responses.expect(r, "POST", uri, 202);
        r.headers().firstValue("Location").ifPresent(loc -> {
            try {
                Http.drain(http.send(Http.Req.of("DELETE", uri.resolve(loc), push(repository), Map.of(), false)));
            } catch (IOException ignored) {
                // an abandoned upload session expires on its own
            }
        });
        return false;
    }

    /**
     * Puts manifest {@code body} under {@code ref} (a tag or its own digest). If the manifest has a
     * {@code subject} and the registry does not answer {@code OCI-Subject}, the referrers tag
     * schema index for that subject is updated too (OCI Distribution 1.1 fallback).
     *
     * @return the digest of {@code body}; if the registry reports a different one,
     *     {@link DigestMismatchException}
     */
    public Digest putManifest(ImageRef ref, String mediaType, byte[] body) throws IOException {
        Digest digest = Digest.sha256(body);
        URI uri = url(ref.repository(), "manifests/" + ref.reference());
        HttpResponse<InputStream> r = http.send(new Http.Req("PUT", uri, push(ref.repository()),
                Map.of("Content-Type", mediaType), body, 0, body.length, true));
        Responses.expect(r, "PUT", uri, 201);
        Optional<String> reported = r.headers().firstValue("Docker-Content-Digest");
        if (reported.isPresent() && Digest.isDigest(reported.get()) && !reported.get().equals(digest.value())) {
            throw new DigestMismatchException("manifest stored at " + Http.show(uri), digest, Digest.of(reported.get()));
        }
        if (r.headers().firstValue("OCI-Subject").isEmpty()) {
            linkReferrer(ref.repository(), mediaType, digest, body);
        }
        return digest;
    }

    /**
     * For a manifest with a {@code subject} pushed to a registry that did not process it (no
     * {@code OCI-Subject} answer): adds the manifest's descriptor to the image index tagged
     * {@code sha256-<subject hex>} (the referrers tag schema), creating it if absent and leaving
     * it alone if the descriptor is already listed. Last writer wins if two clients race (the
     * spec leaves that to clients; the referrers API avoids it).
     */
    private void linkReferrer(String repository, String mediaType, Digest digest, byte[] body) throws IOException {
        JsonNode manifest;
        try {
            manifest = json.readTree(body);
        } catch (IOException notJson) {
            return;
        }
        if (manifest == null || !Digest.isDigest(manifest.path("subject").path("digest").asText(null))) {
            return;
        }
        Digest subject = Digest.of(manifest.path("subject").path("digest").asText());
        ImageRef tag = new ImageRef(repository, "sha256-" + subject.hex());
        com.fasterxml.jackson.databind.node.ObjectNode index;
        try {
            index = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(getManifest(tag).body());
        } catch (RegistryException e) {
            if (!e.isNotFound()) {
                throw e;
            }
            index = json.createObjectNode().put("schemaVersion", 2).put("mediaType", OCI_INDEX);
            index.putArray("manifests");
        } catch (ClassCastException e) {
            throw new IOException("referrers tag " + tag + " does not hold a JSON object");
        }
        com.fasterxml.jackson.databind.node.ArrayNode list = index.withArray("manifests");
        for (JsonNode d : list) {
            if (digest.value().equals(d.path("digest").asText())) {
                return;
            }
        }
        com.fasterxml.jackson.databind.node.ObjectNode d = list.addObject()
                .put("mediaType", mediaType).put("digest", digest.value()).put("size", body.length);
        String artifactType = manifest.path("artifactType").asText(manifest.path("config").path("mediaType").asText(""));
        if (!artifactType.isEmpty()) {
            d.put("artifactType", artifactType);
        }
        if (manifest.path("annotations").isObject()) {
            d.set("annotations", manifest.path("annotations"));
        }
        byte[] bytes = json.writeValueAsBytes(index);
        URI uri = url(repository, "manifests/" + tag.reference());
        HttpResponse<InputStream> r = http.send(new Http.Req("PUT", uri, push(repository),
                Map.of("Content-Type", OCI_INDEX), bytes, 0, bytes.length, true));
        Responses.expect(r, "PUT", uri, 201);
    }

    /**
     * Gets the manifest {@code ref} names. Its bytes are verified against the digest in
     * {@code ref} or, for a tag, against the {@code Docker-Content-Digest} the registry reports.
     *
     * @throws RegistryException (404) if there is no such manifest
     */
    public Manifest getManifest(ImageRef ref) throws IOException {
        URI uri = url(ref.repository(), "manifests/" + ref.reference());
        HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, pull(ref.repository()), Map.of("Accept", ACCEPT), true));
        Responses.expectOpen(r, "GET", uri, 200);
        byte[] body;
        try (InputStream in = r.body()) {
            body = in.readNBytes(MAX_MANIFEST);
            if (in.read() >= 0) {
                throw new IOException("GET " + Http.show(uri) + ": manifest larger than " + MAX_MANIFEST + " bytes");
            }
        }
        Digest actual = Digest.sha256(body);
        Optional<String> expected = ref.isDigest() ? Optional.of(ref.reference())
                : r.headers().firstValue("Docker-Content-Digest").filter(Digest::isDigest);
        if (expected.isPresent() && !expected.get().equals(actual.value())) {
            throw new DigestMismatchException("manifest " + ref, Digest.of(expected.get()), actual);
        }
        return new Manifest(r.headers().firstValue("Content-Type").orElse(""), actual, body);
    }

    /** The descriptor of manifest {@code ref} (HEAD), or empty if the registry has none. */
    public Optional<Descriptor> headManifest(ImageRef ref) throws IOException {
        URI uri = url(ref.repository(), "manifests/" + ref.reference());
        HttpResponse<InputStream> r = http.send(Http.Req.of("HEAD", uri, pull(ref.repository()), Map.of("Accept", ACCEPT), true));
        Http.drain(r);
        if (r.statusCode() == 404) {
            return Optional.empty();
        }
        Responses.expect(r, "HEAD", uri, 200);
        Optional<String> d = r.headers().firstValue("Docker-Content-Digest").filter(Digest::isDigest);
        Digest digest = d.isPresent() ? Digest.of(d.get()) : getManifest(ref).digest();
        return Optional.of(Descriptor.of(r.headers().firstValue("Content-Type").orElse(OCI_MANIFEST), digest,
                r.headers().firstValueAsLong("Content-Length").orElse(0)));
    }

    /**
     * Deletes the manifest {@code ref} names. A tag is first resolved to its digest (HEAD), because
     * deleting by digest is what every registry supports; this removes the manifest and so every
     * tag pointing at it. Blobs are left for the registry's garbage collector.
     *
     * @throws RegistryException (404) if there is no such manifest; (405) if deletion is disabled
     */
    public void deleteManifest(ImageRef ref) throws IOException {
        Digest digest = ref.isDigest() ? Digest.of(ref.reference())
                : headManifest(ref).orElseThrow(() -> new RegistryException("HEAD", Http.show(url(ref.repository(),
                        "manifests/" + ref.reference())), 404, List.of("MANIFEST_UNKNOWN"), "no manifest " + ref)).digest();
        URI uri = url(ref.repository(), "manifests/" + digest);
        HttpResponse<InputStream> r = http.send(Http.Req.of("DELETE", uri, delete(ref.repository()), Map.of(), true));
        Responses.expect(r, "DELETE", uri, 202);
    }

    /** Every tag of {@code repository} (empty if the repository does not exist), fetched in pages of 100. */
    public List<String> listTags(String repository) throws IOException {
        return listTags(repository, 100);
    }

    /**
     * Every tag of {@code repository}, fetched {@code pageSize} at a time following the
     * {@code Link: <..>; rel="next"} header, or the {@code last} parameter when exactly a full page
     * came without one. Tolerates registries that ignore {@code n} (distribution 2.8 returns
     * everything, unsorted): a page larger than asked for, or with no new tag, ends the listing.
     * Tags are returned in the registry's order without duplicates. Empty if the repository does
     * not exist.
     */
    public List<String> listTags(String repository, int pageSize) throws IOException {
        if (pageSize < 1) {
            throw new IllegalArgumentException("page size must be positive: " + pageSize);
        }
        java.util.LinkedHashSet<String> tags = new java.util.LinkedHashSet<>();
        URI uri = url(repository, "tags/list?n=" + pageSize);
        while (uri != null) {
            HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, pull(repository), Map.of(), true));
            if (r.statusCode() == 404) {
                Http.drain(r);
                return List.of();
            }
            JsonNode page = Responses.readJson(r, "GET", uri);
            List<String> got = new ArrayList<>();
            page.path("tags").forEach(t -> got.add(t.asText()));
            boolean grew = tags.addAll(got);
            Optional<String> link = r.headers().firstValue("Link");
            Matcher m = link.isPresent() ? LINK_NEXT.matcher(link.get()) : null;
            if (!grew) {
                uri = null; // a page with nothing new: the registry ignores pagination; stop
            } else if (m != null && m.find()) {
                uri = base.resolve(m.group(1));
            } else if (got.size() == pageSize) {
                // a full page without Link: ask for the rest after the last tag (older registries)
                uri = url(repository, "tags/list?n=" + pageSize + "&last="
                        + URLEncoder.encode(got.getLast(), StandardCharsets.UTF_8));
            } else {
                uri = null; // short page, or more than asked for (n ignored): that is everything
            }
        }
        return List.copyOf(tags);
    }

    /**
     * The manifests whose {@code subject} is {@code subject}, optionally only those of
     * {@code artifactType} (null for all). Uses the referrers API; when the registry answers 404
     * (no API) falls back to the referrers tag schema ({@code sha256-<hex>} tag holding an index),
     * and to an empty list when that tag is absent.
     */
    public List<Descriptor> referrers(String repository, Digest subject, String artifactType) throws IOException {
        URI uri = url(repository, "referrers/" + subject + (artifactType == null ? ""
                : "?artifactType=" + URLEncoder.encode(artifactType, StandardCharsets.UTF_8)));
        HttpResponse<InputStream> r = http.send(Http.Req.of("GET", uri, pull(repository), Map.of("Accept", OCI_INDEX), true));
        JsonNode index;
        if (r.statusCode() == 404) {
            Http.drain(r);
            try {
                index = json.readTree(getManifest(new ImageRef(repository, "sha256-" + subject.hex())).body());
            } catch (RegistryException e) {
                if (e.isNotFound()) {
                    return List.of();
                }
                throw e;
            }
        } else {
            index = Responses.readJson(r, "GET", uri);
        }
        List<Descriptor> out = new ArrayList<>();
        for (JsonNode m : index.path("manifests")) {
            Descriptor d = ImageFormat.descriptor(m, "referrers of " + subject);
            if (artifactType == null || artifactType.equals(d.artifactType())) {
                out.add(d);
            }
        }
        return out;
    }

    // ---- helpers -------------------------------------------------------------------------------

    private URI url(String repository, String suffix) {
        return base.resolve("/v2/" + repository + "/" + suffix);
    }

    static String pull(String repository) {
        return "repository:" + repository + ":pull";
    }

    static String push(String repository) {
        return "repository:" + repository + ":pull,push";
    }

    private static String delete(String repository) {
        return "repository:" + repository + ":delete";
    }

}

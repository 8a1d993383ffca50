package dev.volumes.s3;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;

/**
 * A small S3 client over {@link java.net.http.HttpClient}: the object operations a block device
 * needs. Every call blocks until the answer (or the last retry) and either returns or throws an
 * {@link S3Exception} subtype for an error answer, or an {@link IOException} when the server could
 * not be reached after all attempts. Thread-safe; share one instance.
 *
 * <p>Requests pass through a chain assembled in {@link #create(S3Config)}: retry (bounded,
 * exponential backoff with jitter) → signing (SigV4, re-signed on each attempt) → transport (JDK
 * HTTP/1.1, per-request timeout). Every PUT carries an integrity header (Content-MD5 or
 * x-amz-checksum-crc32c) and a CRC32C of the body in user metadata {@code x-amz-meta-crc32c};
 * whole-object GETs verify that CRC32C, or the server's {@code x-amz-checksum-crc32c}, when present.
 * Messages name the operation, bucket and key; credentials never appear in them.
 */
public final class S3Client implements AutoCloseable {

    /** What a GET returned. {@code etag} is as the server sent it (quoted). */
    public record S3Object(byte[] data, String etag) {}

    /** Metadata of one object. */
    public record ObjectInfo(String key, long size, String etag) {}

    /** One page of a listing and the token for the next one (empty when this is the last page). */
    public record ListPage(List<ObjectInfo> objects, Optional<String> nextContinuationToken) {}

    private final S3Config config;
    private final HttpClient http;
    private final Exchange chain;

    private S3Client(S3Config config, HttpClient http, Exchange chain) {
        this.config = config;
        this.http = http;
        this.chain = chain;
    }

    /** A client for {@code config}. */
    public static S3Client create(S3Config config) {
        return create(config, d -> Thread.sleep(d), ThreadLocalRandom.current(), t -> t);
    }

    /**
     * The one place the chain is assembled: retry → signing → transport. {@code aroundTransport}
     * lets tests put a stage between signing and the wire (identity in production).
     */
    static S3Client create(S3Config config, RetryStage.Sleeper sleeper, java.util.random.RandomGenerator random,
            java.util.function.UnaryOperator<Exchange> aroundTransport) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(config.connectTimeout()).followRedirects(HttpClient.Redirect.NEVER).build();
        Exchange transport = aroundTransport.apply(new JdkTransport(http, config.requestTimeout()));
        Exchange signing = new SigningStage(new SigV4Signer(config.region(), "s3"), config::credentials,
                config.clock(), config.unsignedPayload(), transport);
        Exchange retry = new RetryStage(config.maxAttempts(), config.baseBackoff(), config.maxBackoff(), sleeper,
                random, signing);
        return new S3Client(config, http, retry);
    }

    public S3Config config() {
        return config;
    }

    /**
     * Creates {@code bucket}. Succeeds if it already exists and is ours
     * ({@code BucketAlreadyOwnedByYou}).
     */
    public void createBucket(String bucket) throws IOException {
        byte[] body = config.region().equals("us-east-1") ? new byte[0] : S3Xml.createBucketRequest(config.region());
        S3Request r = request("PUT", bucket, null, List.of(), List.of(), body, "CreateBucket " + bucket);
        S3Response resp = chain.send(r);
        if (!resp.ok() && !"BucketAlreadyOwnedByYou".equals(S3Xml.errorCode(resp.body()))) {
            throw error(r, resp);
        }
    }

    /** Stores {@code data} under {@code key}, replacing any object there; returns the new ETag. */
    public String putObject(String bucket, String key, byte[] data) throws IOException {
        return put(bucket, key, data, List.of(), "PutObject");
    }

    /**
     * Stores {@code data} only if no object has {@code key} ({@code If-None-Match: *}).
     *
     * @throws S3PreconditionFailedException if an object exists (or a concurrent write won)
     */
    public String putObjectIfAbsent(String bucket, String key, byte[] data) throws IOException {
        return put(bucket, key, data, List.of(new SigV4Signer.Header("If-None-Match", "*")), "PutObject(If-None-Match)");
    }

    /**
     * Replaces the object only if its ETag is {@code etag} ({@code If-Match}).
     *
     * @throws S3PreconditionFailedException if the ETag differs or the object is gone
     */
    public String putObjectIfMatch(String bucket, String key, byte[] data, String etag) throws IOException {
        try {
            return put(bucket, key, data, List.of(new SigV4Signer.Header("If-Match", etag)), "PutObject(If-Match)");
        } catch (S3NoSuchKeyException e) {
            throw new S3PreconditionFailedException(e.getMessage(), e.status(), e.code(), e.requestId());
        }
    }

    private String put(String bucket, String key, byte[] data, List<SigV4Signer.Header> conditions, String op)
            throws IOException {
        List<SigV4Signer.Header> headers = new ArrayList<>(conditions);
        if (config.integrity() == S3Config.Integrity.CRC32C) {
            headers.add(new SigV4Signer.Header("x-amz-checksum-crc32c", crc32c(data)));
        } else {
            headers.add(new SigV4Signer.Header("Content-MD5", md5(data)));
        }
        headers.add(new SigV4Signer.Header("x-amz-meta-crc32c", crc32c(data)));
        headers.add(new SigV4Signer.Header("Content-Type", "application/octet-stream"));
        S3Request r = request("PUT", bucket, key, List.of(), headers, data, op + " " + bucket + "/" + key);
        S3Response resp = chain.send(r);
        if (!resp.ok()) {
            throw error(r, resp);
        }
        return resp.header("ETag").orElse("");
    }

    /**
     * The whole object, checksum-verified when the server returns a CRC32C.
     *
     * @throws S3NoSuchKeyException if it does not exist
     * @throws S3IntegrityException if the bytes do not match the stored CRC32C
     */
    public S3Object getObject(String bucket, String key) throws IOException {
        S3Request r = request("GET", bucket, key, List.of(), List.of(new SigV4Signer.Header("x-amz-checksum-mode", "ENABLED")),
                null, "GetObject " + bucket + "/" + key);
        S3Response resp = chain.send(r);
        if (!resp.ok()) {
            throw error(r, resp);
        }
        Optional<String> stored = resp.header("x-amz-checksum-crc32c").or(() -> resp.header("x-amz-meta-crc32c"));
        if (stored.isPresent() && !stored.get().contains("-") && !stored.get().equals(crc32c(resp.body()))) {
            throw new S3IntegrityException(r.what() + ": received " + resp.body().length
                    + " bytes whose CRC32C " + crc32c(resp.body()) + " differs from the stored " + stored.get(),
                    resp.status(), "ChecksumMismatch", resp.header("x-amz-request-id").orElse(""));
        }
        return new S3Object(resp.body(), resp.header("ETag").orElse(""));
    }

    /**
     * Bytes {@code [first, first + length)} of the object ({@code Range}); fewer if the object is
     * shorter. If {@code ifMatch} is not null the read fails unless the ETag still matches.
     *
     * @throws S3NoSuchKeyException if it does not exist
     */
    public S3Object getObjectRange(String bucket, String key, long first, long length, String ifMatch)
            throws IOException {
        if (first < 0 || length <= 0) {
            throw new IllegalArgumentException("bad range first=" + first + " length=" + length);
        }
        List<SigV4Signer.Header> headers = new ArrayList<>();
        headers.add(new SigV4Signer.Header("Range", "bytes=" + first + "-" + (first + length - 1)));
        if (ifMatch != null) {
            headers.add(new SigV4Signer.Header("If-Match", ifMatch));
        }
        S3Request r = request("GET", bucket, key, List.of(), headers, null, "GetObject(Range) " + bucket + "/" + key);
        S3Response resp = chain.send(r);
        if (!resp.ok()) {
            throw error(r, resp);
        }
        byte[] body = resp.body();
        if (resp.status() == 200 && body.length > length) {
            body = java.util.Arrays.copyOfRange(body, (int) Math.min(first, body.length),
                    (int) Math.min(first + length, body.length));
        }
        return new S3Object(body, resp.header("ETag").orElse(""));
    }

    /** Metadata of the object, or empty if it does not exist. */
    public Optional<ObjectInfo> headObject(String bucket, String key) throws IOException {
        S3Request r = request("HEAD", bucket, key, List.of(), List.of(), null, "HeadObject " + bucket + "/" + key);
        S3Response resp = chain.send(r);
        if (resp.status() == 404) {
            return Optional.empty();
        }
        if (!resp.ok()) {
            throw error(r, resp);
        }
        long size = resp.header("Content-Length").map(Long::parseLong).orElse(0L);
        return Optional.of(new ObjectInfo(key, size, resp.header("ETag").orElse("")));
    }

    /** Deletes the object; succeeds also if it did not exist. */
    public void deleteObject(String bucket, String key) throws IOException {
        S3Request r = request("DELETE", bucket, key, List.of(), List.of(), null, "DeleteObject " + bucket + "/" + key);
        S3Response resp = chain.send(r);
        if (!resp.ok() && resp.status() != 404) {
            throw error(r, resp);
        }
    }

    /**
     * Deletes the keys in batches of 1000 (quiet mode). Keys that did not exist count as deleted.
     *
     * @throws S3Exception naming the first failed keys if any key could not be deleted
     */
    public void deleteObjects(String bucket, List<String> keys) throws IOException {
        for (int i = 0; i < keys.size(); i += 1000) {
            List<String> batch = keys.subList(i, Math.min(keys.size(), i + 1000));
            byte[] body = S3Xml.deleteRequest(batch);
            S3Request r = request("POST", bucket, null, List.of(new SigV4Signer.Param("delete", "")),
                    List.of(new SigV4Signer.Header("Content-MD5", md5(body)),
                            new SigV4Signer.Header("Content-Type", "application/xml")),
                    body, "DeleteObjects " + bucket + " (" + batch.size() + " keys)");
            S3Response resp = chain.send(r);
            if (!resp.ok()) {
                throw error(r, resp);
            }
            List<S3Xml.DeleteError> errors = S3Xml.deleteErrors(resp.body());
            if (!errors.isEmpty()) {
                S3Xml.DeleteError first = errors.getFirst();
                throw new S3Exception(r.what() + ": " + errors.size() + " keys not deleted, first " + first.key()
                        + ": " + first.code() + " " + first.message(), resp.status(), first.code(), "");
            }
        }
    }

    /**
     * One page of ListObjectsV2 under {@code prefix} (keys after {@code startAfter} if not null),
     * at most {@code maxKeys} (1..1000) entries.
     */
    public ListPage listObjectsV2(String bucket, String prefix, String startAfter, String continuationToken,
            int maxKeys) throws IOException {
        if (maxKeys < 1 || maxKeys > 1000) {
            throw new IllegalArgumentException("max-keys must be 1..1000: " + maxKeys);
        }
        List<SigV4Signer.Param> q = new ArrayList<>();
        q.add(new SigV4Signer.Param("list-type", "2"));
        q.add(new SigV4Signer.Param("max-keys", Integer.toString(maxKeys)));
        if (prefix != null && !prefix.isEmpty()) {
            q.add(new SigV4Signer.Param("prefix", prefix));
        }
        if (startAfter != null) {
            q.add(new SigV4Signer.Param("start-after", startAfter));
        }
        if (continuationToken != null) {
            q.add(new SigV4Signer.Param("continuation-token", continuationToken));
        }
        S3Request r = request("GET", bucket, null, q, List.of(), null, "ListObjectsV2 " + bucket + "/" + prefix);
        S3Response resp = chain.send(r);
        if (!resp.ok()) {
            throw error(r, resp);
        }
        S3Xml.ListPage page = S3Xml.listPage(resp.body());
        List<ObjectInfo> objects = page.entries().stream().map(e -> new ObjectInfo(e.key(), e.size(), e.etag()))
                .toList();
        return new ListPage(objects, page.truncated() ? Optional.of(page.nextContinuationToken()) : Optional.empty());
    }

    /** Every object under {@code prefix} after {@code startAfter} (may be null), following pagination. */
    public List<ObjectInfo> listAll(String bucket, String prefix, String startAfter) throws IOException {
        List<ObjectInfo> all = new ArrayList<>();
        String token = null;
        do {
            ListPage page = listObjectsV2(bucket, prefix, token == null ? startAfter : null, token, 1000);
            all.addAll(page.objects());
            token = page.nextContinuationToken().orElse(null);
        } while (token != null);
        return all;
    }

    /**
     * Probes whether the server honours conditional writes: creates a scratch object under
     * {@code scratchPrefix} with {@code If-None-Match: *}, tries it again (must fail), tries an
     * {@code If-Match} with a wrong ETag (must fail), then deletes it.
     */
    public boolean supportsConditionalWrites(String bucket, String scratchPrefix) throws IOException {
        byte[] nonce = new byte[8];
        new SecureRandom().nextBytes(nonce);
        String key = scratchPrefix + "probe-" + HexFormat.of().formatHex(nonce);
        byte[] body = "conditional-write probe".getBytes(StandardCharsets.UTF_8);
        try {
            try {
                putObjectIfAbsent(bucket, key, body);
            } catch (S3PreconditionFailedException ownRetry) {
                // The key is fresh and random: the object is ours, applied by an attempt whose
                // answer was lost (timeout, reset) and then refused on retry. That is support.
            }
            try {
                putObjectIfAbsent(bucket, key, body);
                return false;
            } catch (S3PreconditionFailedException expected) {
                // honoured
            }
            try {
                putObjectIfMatch(bucket, key, body, "\"00000000000000000000000000000000\"");
                return false;
            } catch (S3PreconditionFailedException expected) {
                return true;
            }
        } catch (S3Exception e) {
            if (e.status() == 501 || e.status() == 400) {
                return false;
            }
            throw e;
        } finally {
            deleteObject(bucket, key);
        }
    }

    @Override
    public void close() {
        http.close();
    }

    private S3Request request(String method, String bucket, String key, List<SigV4Signer.Param> query,
            List<SigV4Signer.Header> headers, byte[] body, String what) {
        URI endpoint = config.endpoint();
        String basePath = endpoint.getPath() == null || endpoint.getPath().equals("/") ? "" : endpoint.getPath();
        URI base = endpoint;
        String path;
        if (bucket == null) {
            path = basePath + "/";
        } else if (config.pathStyle(bucket)) {
            path = basePath + "/" + bucket + (key == null ? "/" : "/" + key);
        } else {
            base = URI.create(endpoint.getScheme() + "://" + bucket + "." + endpoint.getRawAuthority());
            path = basePath + "/" + (key == null ? "" : key);
        }
        if (key != null && (key.isEmpty() || key.getBytes(StandardCharsets.UTF_8).length > 1024)) {
            throw new IllegalArgumentException("S3 key must be 1..1024 UTF-8 bytes: '" + key + "'");
        }
        return new S3Request(method, base, path, query, headers, body, what);
    }

    static S3Exception error(S3Request r, S3Response resp) {
        S3Xml.Error e = S3Xml.error(resp.body());
        String requestId = e.requestId().isEmpty() ? resp.header("x-amz-request-id").orElse("") : e.requestId();
        String code = e.code();
        int st = resp.status();
        if (code.isEmpty()) {
            code = switch (st) {
                case 404 -> r.method().equals("HEAD") || r.path().endsWith("/") ? "NotFound" : "NoSuchKey";
                case 403 -> "AccessDenied";
                case 412 -> "PreconditionFailed";
                default -> "HTTP" + st;
            };
        }
        String msg = r.what() + " failed: HTTP " + st + " " + code + (e.message().isEmpty() ? "" : ": " + e.message())
                + (requestId.isEmpty() ? "" : " (request id " + requestId + ")");
        if (code.equals("NoSuchBucket")) {
            return new S3NoSuchBucketException(msg, st, code, requestId);
        }
        if (st == 404) {
            return new S3NoSuchKeyException(msg, st, code, requestId);
        }
        if (st == 403 || code.equals("SignatureDoesNotMatch") || code.equals("InvalidAccessKeyId")) {
            return new S3AccessDeniedException(msg, st, code, requestId);
        }
        if (st == 412 || code.equals("ConditionalRequestConflict")) {
            return new S3PreconditionFailedException(msg, st, code, requestId);
        }
        if (code.equals("BadDigest") || code.equals("XAmzContentSHA256Mismatch")) {
            return new S3IntegrityException(msg, st, code, requestId);
        }
        return new S3Exception(msg, st, code, requestId);
    }

    static String md5(byte[] data) {
        try {
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks MD5", e);
        }
    }

    static String crc32c(byte[] data) {
        CRC32C c = new CRC32C();
        c.update(data);
        int v = (int) c.getValue();
        return Base64.getEncoder().encodeToString(new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v});
    }

    /** Visible for the fault tests: a description of the chain. */
    @Override
    public String toString() {
        return "S3Client[" + config + ", chain=retry->signing->transport, requestTimeout="
                + config.requestTimeout().toMillis() + "ms]";
    }
}

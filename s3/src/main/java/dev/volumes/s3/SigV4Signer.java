package dev.volumes.s3;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), written from the specification: canonical request,
 * string to sign, signing key, header signing and presigning (query signing), session tokens,
 * aws-chunked chunk and trailer signatures.
 *
 * <p>Design: a signer is bound to one region and service. Paths and query parameters are given
 * <em>decoded</em>; the signer encodes them once (RFC 3986 unreserved characters kept, everything
 * else as upper-case {@code %XX} of its UTF-8 bytes, {@code /} kept in paths). For service
 * {@code s3} the path is never normalised (S3 keys may contain {@code //}, {@code .} and
 * {@code ..} segments); for other services dot segments are removed and repeated slashes
 * collapsed, as the generic AWS test suite expects. The S3 client sends the very string this
 * class produces as {@link #canonicalUri(String)}, so what is signed is what is sent.
 *
 * <p>The signing key depends only on secret, date, region and service, so it is derived once per
 * UTC day and credentials (a one-entry cache). Thread-safe; no locks.
 */
final class SigV4Signer {

    static final String ALGORITHM = "AWS4-HMAC-SHA256";
    static final String UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
    static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static final DateTimeFormatter AMZ_DATE =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);
    private static final HexFormat HEX = HexFormat.of();

    /** A header as sent: name in any case, raw value. */
    record Header(String name, String value) {
        Header {
            if (name == null || name.isEmpty() || value == null) {
                throw new IllegalArgumentException("bad header " + name);
            }
        }
    }

    /** A decoded query parameter; {@code value} is "" for a value-less parameter. */
    record Param(String name, String value) {
        Param {
            if (name == null || value == null) {
                throw new IllegalArgumentException("bad query parameter " + name);
            }
        }
    }

    /** The parts of a request that are signed. {@code path} is decoded and starts with '/'. */
    record Request(String method, String path, List<Param> query, List<Header> headers) {
        Request {
            query = List.copyOf(query);
            headers = List.copyOf(headers);
            if (path == null || !path.startsWith("/")) {
                throw new IllegalArgumentException("path must start with '/': " + path);
            }
        }
    }

    /**
     * The outcome of header signing: the headers to add to the request (date, token,
     * authorization) plus the intermediate strings, useful for tests and debugging.
     */
    record Signed(List<Header> addedHeaders, String authorization, String canonicalRequest,
            String stringToSign, String signature, String signedHeaders) {}

    /** The outcome of presigning: the full query (original parameters first, signature last). */
    record Presigned(List<Param> query, String canonicalRequest, String stringToSign, String signature) {}

    private record CachedKey(String date, AwsCredentials credentials, byte[] key) {}

    private final String region;
    private final String service;
    private final boolean normalizePath;
    private final AtomicReference<CachedKey> cachedKey = new AtomicReference<>();
    private final AtomicLong keyDerivations = new AtomicLong();

    SigV4Signer(String region, String service) {
        this(region, service, !"s3".equals(service));
    }

    /** A signer that normalises paths as told (AWS: on for every service but s3). */
    SigV4Signer(String region, String service, boolean normalizePath) {
        if (region == null || region.isBlank() || service == null || service.isBlank()) {
            throw new IllegalArgumentException("region and service are required");
        }
        this.region = region;
        this.service = service;
        this.normalizePath = normalizePath;
    }

    String region() {
        return region;
    }

    /** How many signing keys were derived (the per-day cache should keep this at one a day). */
    long keyDerivations() {
        return keyDerivations.get();
    }

    static String amzDate(Instant time) {
        return AMZ_DATE.format(time);
    }

    String scope(Instant time) {
        return amzDate(time).substring(0, 8) + "/" + region + "/" + service + "/aws4_request";
    }

    /**
     * Signs with an {@code Authorization} header. Adds {@code X-Amz-Date} unless the request has
     * {@code x-amz-date} already, and {@code X-Amz-Security-Token} (signed) when the credentials
     * carry a token, {@code signToken} is true and the request has none; with {@code signToken}
     * false the token header is added after signing (not in SignedHeaders). Every header of the
     * request is signed.
     *
     * @param payloadHash hex SHA-256 of the body, or {@link #UNSIGNED_PAYLOAD}
     */
    Signed signHeaders(Request request, String payloadHash, Instant time, AwsCredentials credentials,
            boolean signToken) {
        String amzDate = amzDate(time);
        List<Header> headers = new ArrayList<>(request.headers());
        List<Header> added = new ArrayList<>();
        if (find(headers, "x-amz-date") == null) {
            Header h = new Header("X-Amz-Date", amzDate);
            headers.add(h);
            added.add(h);
        }
        Header lateToken = null;
        if (credentials.sessionToken() != null && find(headers, "x-amz-security-token") == null) {
            Header h = new Header("X-Amz-Security-Token", credentials.sessionToken());
            if (signToken) {
                headers.add(h);
                added.add(h);
            } else {
                lateToken = h;
            }
        }
        Map<String, String> canonicalHeaders = canonicalHeaders(headers);
        String signedHeaders = String.join(";", canonicalHeaders.keySet());
        String canonicalRequest = canonicalRequest(request.method(), request.path(),
                canonicalQuery(request.query()), canonicalHeaders, payloadHash);
        String stringToSign = stringToSign(amzDate, canonicalRequest);
        String signature = HEX.formatHex(hmac(signingKey(amzDate.substring(0, 8), credentials),
                stringToSign));
        String authorization = ALGORITHM + " Credential=" + credentials.accessKeyId() + "/" + scope(time)
                + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature;
        if (lateToken != null) {
            added.add(lateToken);
        }
        added.add(new Header("Authorization", authorization));
        return new Signed(List.copyOf(added), authorization, canonicalRequest, stringToSign, signature,
                signedHeaders);
    }

    /**
     * Presigns: adds the {@code X-Amz-*} query parameters, signs the request's headers (usually
     * only {@code host}) and returns the query with {@code X-Amz-Signature} last. The token, when
     * present, is signed unless {@code signToken} is false (then it is appended unsigned).
     *
     * @param payloadHash {@link #UNSIGNED_PAYLOAD} for S3; the body hash for generic services
     */
    Presigned presign(Request request, String payloadHash, Instant time, Duration expires,
            AwsCredentials credentials, boolean signToken) {
        if (expires.isNegative() || expires.toSeconds() < 1 || expires.toSeconds() > 604_800) {
            throw new IllegalArgumentException("presign expiry must be 1 s to 7 days: " + expires);
        }
        String amzDate = amzDate(time);
        Map<String, String> canonicalHeaders = canonicalHeaders(request.headers());
        String signedHeaders = String.join(";", canonicalHeaders.keySet());
        List<Param> query = new ArrayList<>(request.query());
        query.add(new Param("X-Amz-Algorithm", ALGORITHM));
        query.add(new Param("X-Amz-Credential", credentials.accessKeyId() + "/" + scope(time)));
        query.add(new Param("X-Amz-Date", amzDate));
        query.add(new Param("X-Amz-Expires", Long.toString(expires.toSeconds())));
        query.add(new Param("X-Amz-SignedHeaders", signedHeaders));
        boolean tokenPresent = credentials.sessionToken() != null;
        if (tokenPresent && signToken) {
            query.add(new Param("X-Amz-Security-Token", credentials.sessionToken()));
        }
        String canonicalRequest = canonicalRequest(request.method(), request.path(), canonicalQuery(query),
                canonicalHeaders, payloadHash);
        String stringToSign = stringToSign(amzDate, canonicalRequest);
        String signature = HEX.formatHex(hmac(signingKey(amzDate.substring(0, 8), credentials),
                stringToSign));
        if (tokenPresent && !signToken) {
            query.add(new Param("X-Amz-Security-Token", credentials.sessionToken()));
        }
        query.add(new Param("X-Amz-Signature", signature));
        return new Presigned(List.copyOf(query), canonicalRequest, stringToSign, signature);
    }

    /**
     * The signature of one aws-chunked chunk ({@code STREAMING-AWS4-HMAC-SHA256-PAYLOAD}):
     * chains from the previous signature (the seed signature for the first chunk).
     */
    String chunkSignature(Instant time, AwsCredentials credentials, String previousSignature,
            String chunkSha256) {
        String amzDate = amzDate(time);
        String sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope(time) + "\n" + previousSignature
                + "\n" + EMPTY_SHA256 + "\n" + chunkSha256;
        return HEX.formatHex(hmac(signingKey(amzDate.substring(0, 8), credentials), sts));
    }

    /** The signature of an aws-chunked trailer block (the canonical trailer lines, each ending LF). */
    String trailerSignature(Instant time, AwsCredentials credentials, String previousSignature,
            String canonicalTrailer) {
        String amzDate = amzDate(time);
        String sts = "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope(time) + "\n" + previousSignature
                + "\n" + sha256Hex(canonicalTrailer.getBytes(StandardCharsets.UTF_8));
        return HEX.formatHex(hmac(signingKey(amzDate.substring(0, 8), credentials), sts));
    }

    /** The canonical URI of a decoded path: normalised unless the service is s3, encoded once. */
    String canonicalUri(String path) {
        return uriEncode(normalizePath ? normalize(path) : path, true);
    }

    String canonicalRequest(String method, String path, String canonicalQuery,
            Map<String, String> canonicalHeaders, String payloadHash) {
        StringBuilder sb = new StringBuilder(256);
        sb.append(method).append('\n').append(canonicalUri(path)).append('\n').append(canonicalQuery).append('\n');
        canonicalHeaders.forEach((k, v) -> sb.append(k).append(':').append(v).append('\n'));
        sb.append('\n').append(String.join(";", canonicalHeaders.keySet())).append('\n').append(payloadHash);
        return sb.toString();
    }

    private String stringToSign(String amzDate, String canonicalRequest) {
        return ALGORITHM + "\n" + amzDate + "\n" + amzDate.substring(0, 8) + "/" + region + "/" + service
                + "/aws4_request\n" + sha256Hex(canonicalRequest.getBytes(StandardCharsets.UTF_8));
    }

    byte[] signingKey(String date, AwsCredentials credentials) {
        CachedKey cached = cachedKey.get();
        if (cached != null && cached.date().equals(date) && cached.credentials().equals(credentials)) {
            return cached.key();
        }
        byte[] k = hmac(("AWS4" + credentials.secretAccessKey()).getBytes(StandardCharsets.UTF_8), date);
        k = hmac(k, region);
        k = hmac(k, service);
        k = hmac(k, "aws4_request");
        keyDerivations.incrementAndGet();
        cachedKey.set(new CachedKey(date, credentials, k));
        return k;
    }

    /** Lower-case names sorted; values trimmed, inner whitespace runs collapsed, repeats joined by ','. */
    static Map<String, String> canonicalHeaders(List<Header> headers) {
        Map<String, List<String>> grouped = new LinkedHashMap<>();
        for (Header h : headers) {
            grouped.computeIfAbsent(h.name().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
                    .add(h.value().strip().replaceAll("\\s+", " "));
        }
        Map<String, String> sorted = new TreeMap<>();
        grouped.forEach((k, v) -> sorted.put(k, String.join(",", v)));
        return sorted;
    }

    /** Parameters encoded, sorted by encoded name then encoded value, joined with '&'. */
    static String canonicalQuery(List<Param> query) {
        List<String[]> encoded = new ArrayList<>(query.size());
        for (Param p : query) {
            encoded.add(new String[] {uriEncode(p.name(), false), uriEncode(p.value(), false)});
        }
        encoded.sort(Comparator.<String[], String>comparing(e -> e[0]).thenComparing(e -> e[1]));
        StringBuilder sb = new StringBuilder();
        for (String[] e : encoded) {
            if (!sb.isEmpty()) {
                sb.append('&');
            }
            sb.append(e[0]).append('=').append(e[1]);
        }
        return sb.toString();
    }

    /** Parameters encoded and joined with '&' in the order given (for the wire). */
    static String queryString(List<Param> query) {
        StringBuilder sb = new StringBuilder();
        for (Param p : query) {
            if (!sb.isEmpty()) {
                sb.append('&');
            }
            sb.append(uriEncode(p.name(), false)).append('=').append(uriEncode(p.value(), false));
        }
        return sb.toString();
    }

    /** RFC 3986 percent-encoding of UTF-8 bytes, upper-case hex; '/' kept when {@code keepSlash}. */
    static String uriEncode(String s, boolean keepSlash) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(bytes.length + 16);
        for (byte b : bytes) {
            int c = b & 0xff;
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
                    || c == '.' || c == '~' || (keepSlash && c == '/')) {
                sb.append((char) c);
            } else {
                sb.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        return sb.toString();
    }

    /** Removes dot segments and empty segments (generic services only; never for S3). */
    static String normalize(String path) {
        List<String> out = new ArrayList<>();
        String[] segments = path.split("/", -1);
        for (String seg : segments) {
            if (seg.isEmpty() || seg.equals(".")) {
                continue;
            }
            if (seg.equals("..")) {
                if (!out.isEmpty()) {
                    out.removeLast();
                }
                continue;
            }
            out.add(seg);
        }
        String last = segments[segments.length - 1];
        boolean trailingSlash = last.isEmpty() || last.equals(".") || last.equals("..");
        String joined = "/" + String.join("/", out);
        return trailingSlash && !out.isEmpty() ? joined + "/" : joined;
    }

    private static Header find(List<Header> headers, String lowerName) {
        for (Header h : headers) {
            if (h.name().equalsIgnoreCase(lowerName)) {
                return h;
            }
        }
        return null;
    }

    static String sha256Hex(byte[] data) {
        return HEX.formatHex(sha256(data));
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    private static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks HmacSHA256", e);
        }
    }
}

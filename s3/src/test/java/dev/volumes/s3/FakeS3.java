package dev.volumes.s3;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A hand-written in-memory S3 (one bucket, path-style) standing in for the transport stage, for
 * fast unit and stress tests of the client and S3Device: PUT (with If-None-Match / If-Match),
 * GET, HEAD, DELETE, DeleteObjects and ListObjectsV2. Optional random latency shakes out races.
 * Not a conformance reference: the real-server tests use s3proxy.
 */
final class FakeS3 implements Exchange {

    record Obj(byte[] data, String etag, String crc) {}

    final NavigableMap<String, Obj> objects = new ConcurrentSkipListMap<>();
    final AtomicLong gets = new AtomicLong();
    final AtomicLong puts = new AtomicLong();
    volatile int maxLatencyMicros;

    static S3Client client(FakeS3 fake) {
        S3Config cfg = S3Config.builder().endpoint(URI.create("http://127.0.0.1:1")).credentials(AwsCredentials.of("a", "b"))
                .unsignedPayload(true).build();
        return S3Client.create(cfg, d -> { }, ThreadLocalRandom.current(), next -> fake);
    }

    @Override
    public S3Response send(S3Request r) {
        if (maxLatencyMicros > 0) {
            LockSupport.parkNanos(ThreadLocalRandom.current().nextInt(maxLatencyMicros) * 1000L);
        }
        String path = r.path();
        int slash = path.indexOf('/', 1);
        String key = slash < 0 || slash == path.length() - 1 ? null : path.substring(slash + 1);
        String ifNoneMatch = header(r, "If-None-Match");
        String ifMatch = header(r, "If-Match");
        synchronized (this) {
            switch (r.method()) {
                case "PUT" -> {
                    Obj cur = objects.get(key);
                    if (("*".equals(ifNoneMatch) && cur != null) || (ifMatch != null && (cur == null || !cur.etag().equals(ifMatch)))) {
                        return error(412, "PreconditionFailed");
                    }
                    String etag = "\"" + md5(r.body()) + "\"";
                    objects.put(key, new Obj(r.body().clone(), etag, header(r, "x-amz-meta-crc32c")));
                    puts.incrementAndGet();
                    return new S3Response(200, Map.of("ETag", List.of(etag)), new byte[0]);
                }
                case "GET", "HEAD" -> {
                    if (key == null) {
                        return list(r);
                    }
                    gets.incrementAndGet();
                    Obj o = objects.get(key);
                    if (o == null) {
                        return r.method().equals("HEAD") ? new S3Response(404, Map.of(), new byte[0]) : error(404, "NoSuchKey");
                    }
                    Map<String, List<String>> h = o.crc() == null
                            ? Map.of("ETag", List.of(o.etag()), "Content-Length", List.of(Integer.toString(o.data().length)))
                            : Map.of("ETag", List.of(o.etag()), "x-amz-meta-crc32c", List.of(o.crc()),
                                    "Content-Length", List.of(Integer.toString(o.data().length)));
                    return new S3Response(200, h, r.method().equals("HEAD") ? new byte[0] : o.data().clone());
                }
                case "DELETE" -> {
                    objects.remove(key);
                    return new S3Response(204, Map.of(), new byte[0]);
                }
                case "POST" -> {
                    String xml = new String(r.body(), StandardCharsets.UTF_8);
                    for (String part : xml.split("<Key>")) {
                        int end = part.indexOf("</Key>");
                        if (end >= 0) {
                            objects.remove(part.substring(0, end).replace("&amp;", "&"));
                        }
                    }
                    return new S3Response(200, Map.of(), "<DeleteResult/>".getBytes(StandardCharsets.UTF_8));
                }
                default -> {
                    return error(400, "NotImplemented");
                }
            }
        }
    }

    private S3Response list(S3Request r) {
        String prefix = "";
        String after = "";
        int max = 1000;
        for (SigV4Signer.Param p : r.query()) {
            switch (p.name()) {
                case "prefix" -> prefix = p.value();
                case "start-after", "continuation-token" -> after = p.value();
                case "max-keys" -> max = Integer.parseInt(p.value());
                default -> { }
            }
        }
        StringBuilder sb = new StringBuilder("<ListBucketResult>");
        int n = 0;
        String last = null;
        boolean truncated = false;
        for (Map.Entry<String, Obj> e : objects.tailMap(after, false).entrySet()) {
            if (!e.getKey().startsWith(prefix)) {
                if (e.getKey().compareTo(prefix) > 0) {
                    break;
                }
                continue;
            }
            if (n == max) {
                truncated = true;
                break;
            }
            sb.append("<Contents><Key>").append(S3Xml.escape(e.getKey())).append("</Key><Size>")
                    .append(e.getValue().data().length).append("</Size></Contents>");
            last = e.getKey();
            n++;
        }
        sb.append("<IsTruncated>").append(truncated).append("</IsTruncated>");
        if (truncated) {
            sb.append("<NextContinuationToken>").append(S3Xml.escape(last)).append("</NextContinuationToken>");
        }
        return new S3Response(200, Map.of(), sb.append("</ListBucketResult>").toString().getBytes(StandardCharsets.UTF_8));
    }

    private static S3Response error(int status, String code) {
        return new S3Response(status, Map.of(), ("<Error><Code>" + code + "</Code><Message>fake</Message></Error>")
                .getBytes(StandardCharsets.UTF_8));
    }

    private static String header(S3Request r, String name) {
        return r.headers().stream().filter(h -> h.name().equalsIgnoreCase(name)).map(SigV4Signer.Header::value)
                .findFirst().orElse(null);
    }

    private static String md5(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

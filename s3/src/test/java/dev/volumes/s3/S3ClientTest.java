package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The client's request building, signing and answer handling, with a hand-written fake in place
 * of the transport (the stage after signing), so what would go on the wire is inspected.
 */
class S3ClientTest {

    private final List<S3Request> sent = new ArrayList<>();

    private S3Client client(String endpoint, S3Config.Addressing addressing, Function<S3Request, S3Response> answer) {
        S3Config cfg = S3Config.builder().endpoint(URI.create(endpoint)).region("eu-west-1")
                .credentials(new AwsCredentials("AKID", "SECRET", "TOKEN")).addressing(addressing)
                .clock(Clock.fixed(Instant.parse("2026-01-02T03:04:05Z"), ZoneOffset.UTC)).build();
        return S3Client.create(cfg, d -> { }, new Random(1), next -> request -> {
            sent.add(request);
            return answer.apply(request);
        });
    }

    private static S3Response ok(String body, Map<String, List<String>> headers) {
        return new S3Response(200, headers, body.getBytes(StandardCharsets.UTF_8));
    }

    private static String header(S3Request r, String name) {
        return r.headers().stream().filter(h -> h.name().equalsIgnoreCase(name)).map(SigV4Signer.Header::value)
                .findFirst().orElse(null);
    }

    @Test
    void virtualHostedForAwsEndpointsPathStyleForIpsAndForcedStyles() throws IOException {
        try (S3Client c = client("https://s3.eu-west-1.amazonaws.com", S3Config.Addressing.AUTO,
                r -> ok("", Map.of("ETag", List.of("\"e\""))))) {
            c.putObject("my-bucket", "dir/a b.bin", new byte[] {1, 2});
            S3Request r = sent.getLast();
            assertThat(r.uri()).isEqualTo(URI.create("https://my-bucket.s3.eu-west-1.amazonaws.com/dir/a%20b.bin"));
            assertThat(r.hostHeader()).isEqualTo("my-bucket.s3.eu-west-1.amazonaws.com");
            assertThat(header(r, "x-amz-content-sha256")).isEqualTo(SigV4Signer.sha256Hex(new byte[] {1, 2}));
            assertThat(header(r, "Content-MD5")).isEqualTo(S3Client.md5(new byte[] {1, 2}));
            assertThat(header(r, "X-Amz-Date")).isEqualTo("20260102T030405Z");
            assertThat(header(r, "X-Amz-Security-Token")).isEqualTo("TOKEN");
            assertThat(header(r, "Authorization")).startsWith("AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/s3/aws4_request")
                    .contains("SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-crc32c;x-amz-security-token")
                    .doesNotContain("SECRET");
        }
        try (S3Client c = client("http://127.0.0.1:9000", S3Config.Addressing.AUTO, r -> ok("", Map.of()))) {
            c.deleteObject("b", "k");
            assertThat(sent.getLast().uri()).isEqualTo(URI.create("http://127.0.0.1:9000/b/k"));
        }
        try (S3Client c = client("https://s3.example.net", S3Config.Addressing.PATH, r -> ok("", Map.of()))) {
            c.deleteObject("bucket", "k");
            assertThat(sent.getLast().uri()).isEqualTo(URI.create("https://s3.example.net/bucket/k"));
        }
        try (S3Client c = client("http://localhost:9000", S3Config.Addressing.VIRTUAL_HOSTED, r -> ok("", Map.of()))) {
            c.deleteObject("bucket", "k");
            assertThat(sent.getLast().uri()).isEqualTo(URI.create("http://bucket.localhost:9000/k"));
        }
    }

    @Test
    void getVerifiesTheStoredCrc32c() throws IOException {
        byte[] body = "hello".getBytes(StandardCharsets.UTF_8);
        try (S3Client c = client("http://127.0.0.1:1", S3Config.Addressing.AUTO,
                r -> new S3Response(200, Map.of("x-amz-meta-crc32c", List.of(S3Client.crc32c(body))), body))) {
            assertThat(c.getObject("b", "k").data()).isEqualTo(body);
        }
        try (S3Client c = client("http://127.0.0.1:1", S3Config.Addressing.AUTO,
                r -> new S3Response(200, Map.of("x-amz-meta-crc32c", List.of(S3Client.crc32c(body))),
                        "hellO".getBytes(StandardCharsets.UTF_8)))) {
            assertThatThrownBy(() -> c.getObject("b", "k")).isInstanceOf(S3IntegrityException.class)
                    .hasMessageContaining("GetObject b/k");
        }
    }

    @Test
    void deleteObjectsReportsPerKeyErrorsInsideA200AndListParsesPages() throws IOException {
        try (S3Client c = client("http://127.0.0.1:1", S3Config.Addressing.AUTO, r -> ok(
                "<DeleteResult><Error><Key>k2</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>",
                Map.of()))) {
            assertThatThrownBy(() -> c.deleteObjects("b", List.of("k1", "k2"))).isInstanceOf(S3Exception.class)
                    .hasMessageContaining("k2").hasMessageContaining("AccessDenied");
            assertThat(new String(sent.getLast().body(), StandardCharsets.UTF_8)).contains("<Key>k1</Key>")
                    .contains("<Quiet>true</Quiet>");
            assertThat(header(sent.getLast(), "Content-MD5")).isEqualTo(S3Client.md5(sent.getLast().body()));
        }
        try (S3Client c = client("http://127.0.0.1:1", S3Config.Addressing.AUTO, r -> ok("""
                <ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>
                <NextContinuationToken>tok/+=</NextContinuationToken>
                <Contents><Key>p/a&amp;b</Key><Size>12</Size><ETag>"x"</ETag></Contents></ListBucketResult>""", Map.of()))) {
            S3Client.ListPage page = c.listObjectsV2("b", "p/", null, null, 2);
            assertThat(page.objects()).containsExactly(new S3Client.ObjectInfo("p/a&b", 12, "\"x\""));
            assertThat(page.nextContinuationToken()).hasValue("tok/+=");
            assertThat(sent.getLast().uri().getRawQuery()).isEqualTo("list-type=2&max-keys=2&prefix=p%2F");
        }
    }

    @Test
    void xmlWithADoctypeIsRefused() {
        byte[] evil = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><ListBucketResult>&e;</ListBucketResult>"
                .getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> S3Xml.listPage(evil)).isInstanceOf(IOException.class);
    }
}

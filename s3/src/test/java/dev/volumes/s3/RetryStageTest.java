package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Retry decisions and backoff bounds, with a scripted fake next stage and a recording sleeper. */
class RetryStageTest {

    private final List<Duration> sleeps = new ArrayList<>();
    private final Deque<Object> script = new ArrayDeque<>();
    private int calls;

    private final Exchange fake = request -> {
        calls++;
        Object next = script.removeFirst();
        if (next instanceof IOException e) {
            throw e;
        }
        return (S3Response) next;
    };

    private RetryStage stage(int attempts) {
        return new RetryStage(attempts, Duration.ofMillis(100), Duration.ofMillis(1000), sleeps::add, new Random(1), fake);
    }

    private static S3Response error(int status, String code) {
        return new S3Response(status, Map.of(), ("<Error><Code>" + code + "</Code><Message>m</Message></Error>")
                .getBytes(StandardCharsets.UTF_8));
    }

    private static final S3Response OK = new S3Response(200, Map.of(), new byte[0]);
    private static final S3Request REQ = new S3Request("GET", URI.create("http://127.0.0.1:1"), "/b/k", List.of(),
            List.of(), null, "GetObject b/k");

    @Test
    void retriesServerErrorsThrottlingResetsAndTimeoutsThenSucceeds() throws IOException {
        script.addAll(List.of(error(503, "SlowDown"), error(500, "InternalError"), new IOException("Connection reset"),
                new java.net.http.HttpTimeoutException("request timed out"), error(400, "RequestTimeout"),
                error(429, "TooManyRequests"), error(409, "ConditionalRequestConflict"), OK));
        assertThat(stage(10).send(REQ).status()).isEqualTo(200);
        assertThat(calls).isEqualTo(8);
        assertThat(sleeps).hasSize(7);
        for (int i = 0; i < sleeps.size(); i++) {
            long cap = Math.min(1000, 100L << i);
            assertThat(sleeps.get(i)).isBetween(Duration.ZERO, Duration.ofMillis(cap));
        }
    }

    @Test
    void clientErrorsAreNotRetried() throws IOException {
        for (S3Response r : List.of(error(403, "SignatureDoesNotMatch"), error(404, "NoSuchKey"),
                error(412, "PreconditionFailed"), error(400, "BadDigest"))) {
            script.add(r);
            calls = 0;
            assertThat(stage(5).send(REQ).status()).isEqualTo(r.status());
            assertThat(calls).isEqualTo(1);
        }
        assertThat(sleeps).isEmpty();
    }

    @Test
    void attemptsAreBoundedAndEarlierFailuresAreSuppressed() throws IOException {
        script.addAll(List.of(error(503, "SlowDown"), error(503, "SlowDown"), error(503, "SlowDown")));
        assertThat(stage(3).send(REQ).status()).isEqualTo(503);
        assertThat(calls).isEqualTo(3);
        script.clear();
        calls = 0;
        script.addAll(List.of(new IOException("reset 1"), new IOException("reset 2"), new IOException("reset 3")));
        assertThatThrownBy(() -> stage(3).send(REQ)).isInstanceOf(IOException.class)
                .hasMessageContaining("GetObject b/k").hasMessageContaining("3 attempts")
                .satisfies(e -> assertThat(e.getSuppressed()).hasSize(2));
    }

    @Test
    void errorAnswersBecomeTypedExceptionsWithoutSecrets() {
        assertThat(S3Client.error(REQ, error(404, "NoSuchKey"))).isInstanceOf(S3NoSuchKeyException.class);
        assertThat(S3Client.error(REQ, error(404, "NoSuchBucket"))).isInstanceOf(S3NoSuchBucketException.class);
        assertThat(S3Client.error(REQ, error(403, "SignatureDoesNotMatch"))).isInstanceOf(S3AccessDeniedException.class)
                .hasMessageContaining("GetObject b/k").hasMessageContaining("SignatureDoesNotMatch");
        assertThat(S3Client.error(REQ, error(412, "PreconditionFailed"))).isInstanceOf(S3PreconditionFailedException.class);
        assertThat(S3Client.error(REQ, new S3Response(404, Map.of(), new byte[0]))).isInstanceOf(S3NoSuchKeyException.class);
        S3Exception e = S3Client.error(REQ, error(503, "SlowDown"));
        assertThat(e.code()).isEqualTo("SlowDown");
        assertThat(e.status()).isEqualTo(503);
    }

    @Test
    void requestsRefuseJdkRestrictedHeadersAndEncodeKeysOnce() {
        assertThatThrownBy(() -> new S3Request("GET", URI.create("http://h"), "/", List.of(),
                List.of(new SigV4Signer.Header("Host", "x")), null, "x")).isInstanceOf(IllegalArgumentException.class);
        S3Request r = new S3Request("GET", URI.create("http://127.0.0.1:9000"), "/b/a b/%/ሴ", List.of(), List.of(), null, "x");
        assertThat(r.uri().getRawPath()).isEqualTo("/b/a%20b/%25/%E1%88%B4");
        assertThat(r.hostHeader()).isEqualTo("127.0.0.1:9000");
        assertThat(new S3Request("GET", URI.create("https://h:443"), "/", List.of(), List.of(), null, "x").hostHeader())
                .isEqualTo("h");
    }
}

package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The S3 client against a real s3proxy with SigV4 enforced. */
class S3ClientIT {

    static S3ProxyPeer peer;
    static S3Client client;

    @BeforeAll
    static void start() throws IOException {
        peer = S3ProxyPeer.start();
        client = S3Client.create(peer.config().build());
        client.createBucket("it-bucket");
    }

    @AfterAll
    static void stop() throws IOException {
        if (client != null) {
            client.close();
        }
        if (peer != null) {
            peer.close();
        }
    }

    @Test
    void putGetHeadDeleteRoundTripWithAwkwardKeys() throws IOException {
        for (String key : List.of("plain", "with space/and+plus", "unicode-ሴ-é", "a//double//slash", "dots..in..name", "sym$&=;@,:!'()*")) {
            byte[] data = ("payload of " + key).getBytes(StandardCharsets.UTF_8);
            String etag = client.putObject("it-bucket", key, data);
            assertThat(etag).as(key).isNotEmpty();
            assertThat(client.getObject("it-bucket", key).data()).as(key).isEqualTo(data);
            assertThat(client.headObject("it-bucket", key)).as(key).hasValueSatisfying(i -> assertThat(i.size()).isEqualTo(data.length));
            assertThat(client.getObjectRange("it-bucket", key, 2, 5, null).data()).as(key)
                    .isEqualTo(java.util.Arrays.copyOfRange(data, 2, 7));
            client.deleteObject("it-bucket", key);
            assertThat(client.headObject("it-bucket", key)).as(key).isEmpty();
            assertThatThrownBy(() -> client.getObject("it-bucket", key)).isInstanceOf(S3NoSuchKeyException.class);
        }
    }

    @Test
    void largeObjectRoundTrip() throws IOException {
        byte[] data = new byte[4 << 20];
        ThreadLocalRandom.current().nextBytes(data);
        client.putObject("it-bucket", "big", data);
        assertThat(client.getObject("it-bucket", "big").data()).isEqualTo(data);
        client.deleteObject("it-bucket", "big");
    }

    @Test
    void listObjectsV2PaginatesAndDeleteObjectsRemovesAll() throws IOException {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            keys.add("list/k" + i);
            client.putObject("it-bucket", "list/k" + i, new byte[] {(byte) i});
        }
        S3Client.ListPage first = client.listObjectsV2("it-bucket", "list/", null, null, 3);
        assertThat(first.objects()).extracting(S3Client.ObjectInfo::key).containsExactly("list/k0", "list/k1", "list/k2");
        assertThat(first.nextContinuationToken()).isPresent();
        List<String> all = new ArrayList<>();
        String token = null;
        int pages = 0;
        do {
            S3Client.ListPage p = client.listObjectsV2("it-bucket", "list/", null, token, 3);
            p.objects().forEach(o -> all.add(o.key()));
            token = p.nextContinuationToken().orElse(null);
            pages++;
        } while (token != null);
        assertThat(all).isEqualTo(keys);
        assertThat(pages).isEqualTo(3);
        assertThat(client.listAll("it-bucket", "list/", "list/k4")).extracting(S3Client.ObjectInfo::key)
                .containsExactly("list/k5", "list/k6");
        List<String> toDelete = new ArrayList<>(keys);
        toDelete.add("list/never-existed");
        client.deleteObjects("it-bucket", toDelete);
        assertThat(client.listAll("it-bucket", "list/", null)).isEmpty();
    }

    @Test
    void conditionalWritesAreHonouredAndProbed() throws IOException {
        assertThat(client.supportsConditionalWrites("it-bucket", "probe/")).isTrue();
        String etag = client.putObjectIfAbsent("it-bucket", "cond", new byte[] {1});
        assertThatThrownBy(() -> client.putObjectIfAbsent("it-bucket", "cond", new byte[] {2}))
                .isInstanceOf(S3PreconditionFailedException.class);
        String etag2 = client.putObjectIfMatch("it-bucket", "cond", new byte[] {3}, etag);
        assertThatThrownBy(() -> client.putObjectIfMatch("it-bucket", "cond", new byte[] {4}, etag))
                .isInstanceOf(S3PreconditionFailedException.class);
        assertThat(client.getObject("it-bucket", "cond").data()).containsExactly(3);
        assertThat(client.getObject("it-bucket", "cond").etag()).isEqualTo(etag2);
        client.deleteObject("it-bucket", "cond");
    }

    @Test
    void tamperedSignatureIsRefusedByTheServer() throws IOException {
        try (S3Client bad = S3Client.create(peer.config().maxAttempts(1).build(), d -> { }, ThreadLocalRandom.current(),
                next -> request -> next.send(tamperSignature(request)))) {
            assertThatThrownBy(() -> bad.putObject("it-bucket", "tampered", new byte[] {1}))
                    .isInstanceOf(S3AccessDeniedException.class)
                    .satisfies(e -> assertThat(((S3Exception) e).code()).isEqualTo("SignatureDoesNotMatch"));
        }
        assertThat(client.headObject("it-bucket", "tampered")).isEmpty();
    }

    private static S3Request tamperSignature(S3Request r) {
        List<SigV4Signer.Header> headers = new ArrayList<>();
        for (SigV4Signer.Header h : r.headers()) {
            if (h.name().equals("Authorization")) {
                String v = h.value();
                char last = v.charAt(v.length() - 1);
                headers.add(new SigV4Signer.Header(h.name(), v.substring(0, v.length() - 1) + (last == '0' ? '1' : '0')));
            } else {
                headers.add(h);
            }
        }
        return new S3Request(r.method(), r.base(), r.path(), r.query(), headers, r.body(), r.what());
    }

    @Test
    void wrongCredentialsGiveAccessDenied() {
        S3Config cfg = peer.config().credentials(AwsCredentials.of(peer.credentials.accessKeyId(), "wrong-secret")).build();
        try (S3Client bad = S3Client.create(cfg)) {
            assertThatThrownBy(() -> bad.getObject("it-bucket", "x"))
                    .isInstanceOf(S3AccessDeniedException.class)
                    .hasMessageContaining("GetObject it-bucket/x")
                    .hasMessageNotContaining("wrong-secret");
        }
        S3Config unknown = peer.config().credentials(AwsCredentials.of("nobody", "nothing")).build();
        try (S3Client bad = S3Client.create(unknown)) {
            assertThatThrownBy(() -> bad.putObject("it-bucket", "x", new byte[1])).isInstanceOf(S3AccessDeniedException.class);
        }
    }

    @Test
    void missingBucketGivesNoSuchBucket() {
        assertThatThrownBy(() -> client.getObject("no-such-bucket-here", "x"))
                .isInstanceOf(S3NoSuchBucketException.class).hasMessageContaining("no-such-bucket-here");
        assertThatThrownBy(() -> client.putObject("no-such-bucket-here", "x", new byte[1]))
                .isInstanceOf(S3NoSuchBucketException.class);
    }
}

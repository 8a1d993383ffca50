package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Client behaviour against scripted servers: pagination, retries, integrity, redirects, transport policy. */
class RegistryClientTest {

    private static RegistryClient client(URI uri) throws IOException {
        return RegistryClient.builder(uri).useDockerConfig(false).retries(3, Duration.ofMillis(1)).build();
    }

    @Test
    void tagsFollowTheLinkHeaderAcrossPages() throws IOException {
        try (FakeServer s = new FakeServer(ex -> {
            String q = ex.getRequestURI().getQuery();
            if (q.equals("n=2")) {
                FakeServer.reply(ex, 200, "{\"tags\":[\"a\",\"b\"]}", "Link", "</v2/r/tags/list?n=2&last=b>; rel=\"next\"");
            } else if (q.equals("n=2&last=b")) {
                FakeServer.reply(ex, 200, "{\"tags\":[\"c\",\"d\"]}", "Link", "</v2/r/tags/list?n=2&last=d>; rel=next");
            } else {
                FakeServer.reply(ex, 200, "{\"tags\":[\"e\"]}");
            }
        })) {
            assertThat(client(s.uri()).listTags("r", 2)).containsExactly("a", "b", "c", "d", "e");
            assertThat(s.seen).hasSize(3);
        }
    }

    @Test
    void tagsWithoutLinkUseLastAndStopOnAShortPage() throws IOException {
        try (FakeServer s = new FakeServer(ex -> {
            String q = ex.getRequestURI().getQuery();
            FakeServer.reply(ex, 200, q.equals("n=2") ? "{\"tags\":[\"a\",\"b\"]}" : "{\"tags\":[\"c\"]}");
        })) {
            assertThat(client(s.uri()).listTags("r", 2)).containsExactly("a", "b", "c");
            assertThat(s.seen.get(1).uri()).endsWith("n=2&last=b");
        }
    }

    @Test
    void unavailableAnswersAreRetriedABoundedNumberOfTimes() throws IOException {
        AtomicInteger calls = new AtomicInteger();
        try (FakeServer s = new FakeServer(ex -> {
            if (calls.incrementAndGet() < 3) {
                FakeServer.reply(ex, 503, "");
            } else {
                FakeServer.reply(ex, 200, "{}");
            }
        })) {
            client(s.uri()).ping();
            assertThat(calls.get()).isEqualTo(3);
        }
        try (FakeServer s = new FakeServer(ex -> FakeServer.reply(ex, 503, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"down\"}]}"))) {
            assertThatThrownBy(() -> client(s.uri()).ping()).isInstanceOfSatisfying(RegistryException.class, e -> {
                assertThat(e.status()).isEqualTo(503);
                assertThat(e.codes()).containsExactly("UNAVAILABLE");
            });
            assertThat(s.seen).hasSize(3);
        }
    }

    @Test
    void manifestWhoseBytesDoNotMatchTheReportedDigestIsRefused() throws IOException {
        String body = "{\"schemaVersion\":2}";
        try (FakeServer s = new FakeServer(ex -> FakeServer.reply(ex, 200, body,
                "Docker-Content-Digest", Digest.EMPTY.value(), "Content-Type", RegistryClient.OCI_MANIFEST))) {
            RegistryClient c = client(s.uri());
            assertThatThrownBy(() -> c.getManifest(ImageRef.parse("r:t"))).isInstanceOf(DigestMismatchException.class);
            assertThatThrownBy(() -> c.getManifest(new ImageRef("r", Digest.EMPTY.value())))
                    .isInstanceOf(DigestMismatchException.class);
            assertThatThrownBy(() -> c.pullBlob("r", Digest.EMPTY, 100)).isInstanceOf(DigestMismatchException.class)
                    .hasMessageContaining("expected " + Digest.EMPTY);
        }
    }

    @Test
    void redirectsAreFollowedWithoutHandingCredentialsToAnotherHost() throws IOException {
        byte[] blob = "blob".getBytes(StandardCharsets.UTF_8);
        Digest d = Digest.sha256(blob);
        try (FakeServer storage = new FakeServer(ex -> FakeServer.reply(ex, 200, "blob"));
                FakeServer reg = new FakeServer(ex -> {
                    if (ex.getRequestHeaders().getFirst("Authorization") == null) {
                        FakeServer.reply(ex, 401, "", "WWW-Authenticate", "Basic realm=\"r\"");
                    } else {
                        FakeServer.reply(ex, 307, "", "Location", storage.uri() + "/signed/blob?X-Sig=secret");
                    }
                })) {
            RegistryClient c = RegistryClient.builder(reg.uri()).credentials(new Credentials("u", "p")).build();
            assertThat(c.pullBlob("r", d, 10)).isEqualTo(blob);
            assertThat(reg.seen.getLast().authorization()).startsWith("Basic ");
            assertThat(storage.seen).singleElement().satisfies(seen -> assertThat(seen.authorization()).isNull());
        }
    }

    @Test
    void referrersApiIsUsedWhenPresentAndFilteredClientSideIfTheServerDidNot() throws IOException {
        String index = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" + Digest.EMPTY
                + "\",\"size\":1,\"artifactType\":\"x\"},{\"mediaType\":\"m\",\"digest\":\"" + Digest.EMPTY
                + "\",\"size\":2,\"artifactType\":\"y\"}]}";
        try (FakeServer s = new FakeServer(ex -> FakeServer.reply(ex, 200, index))) {
            List<Descriptor> got = client(s.uri()).referrers("r", Digest.EMPTY, "y");
            assertThat(got).singleElement().satisfies(d -> assertThat(d.size()).isEqualTo(2));
            assertThat(s.seen.getFirst().uri()).isEqualTo("/v2/r/referrers/" + Digest.EMPTY + "?artifactType=y");
        }
    }

    @Test
    void plainHttpIsRefusedExceptToLoopbackOrWhenInsecure() throws IOException {
        assertThatThrownBy(() -> RegistryClient.builder(URI.create("http://registry.example:5000")).useDockerConfig(false).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("plain http");
        RegistryClient.builder(URI.create("http://registry.example:5000")).useDockerConfig(false).insecure(true).build();
        RegistryClient.builder(URI.create("http://127.0.0.1:5000")).useDockerConfig(false).build();
        RegistryClient.builder(URI.create("http://[::1]:5000")).useDockerConfig(false).build();
        RegistryClient.builder(URI.create("https://registry.example")).useDockerConfig(false).build();
    }

    @Test
    void tokenSecretsNeverAppearInErrors() throws IOException {
        try (FakeServer s = new FakeServer(ex -> {
            if (ex.getRequestURI().getPath().equals("/token")) {
                FakeServer.reply(ex, 200, "{\"token\":\"SECRET-TOKEN\",\"expires_in\":300}");
            } else {
                FakeServer.reply(ex, 401, "", "WWW-Authenticate", "Bearer realm=\"http://127.0.0.1:"
                        + ex.getLocalAddress().getPort() + "/token\",service=\"svc\",scope=\"repository:r:pull\"");
            }
        })) {
            RegistryClient c = RegistryClient.builder(s.uri()).credentials(new Credentials("u", "PASSWORD")).build();
            assertThatThrownBy(() -> c.listTags("r")).isInstanceOf(AuthenticationException.class)
                    .hasMessageContaining("user 'u'").hasMessageNotContaining("SECRET-TOKEN").hasMessageNotContaining("PASSWORD");
            assertThat(s.seen.stream().filter(x -> x.uri().startsWith("/token")).findFirst().orElseThrow().uri())
                    .isEqualTo("/token?service=svc&scope=repository%3Ar%3Apull");
            assertThat(Map.of("k", new Credentials("u", "PASSWORD")).toString()).doesNotContain("PASSWORD");
        }
    }
}

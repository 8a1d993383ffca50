package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Freeze and pull round trips against a real docker-registry with no auth, htpasswd and token auth. */
class RegistryAuthIT {

    static final int CS = 64 << 10;

    @TempDir
    Path tmp;

    /** 4 MiB device: chunk 0 random, chunks 1 and 5 identical, chunk 9 random, tail marker, rest holes. */
    static MemoryDevice sample(long seed) throws IOException {
        MemoryDevice dev = MemoryDevice.create("sample", 4L << 20);
        Random r = new Random(seed);
        byte[] a = new byte[CS];
        r.nextBytes(a);
        byte[] b = new byte[CS];
        Arrays.fill(b, (byte) 0xA5);
        dev.write(ByteBuffer.wrap(a), 0);
        dev.write(ByteBuffer.wrap(b), CS);
        dev.write(ByteBuffer.wrap(b), 5L * CS);
        r.nextBytes(a);
        dev.write(ByteBuffer.wrap(a, 0, 1000), 9L * CS + 7);
        dev.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), (4L << 20) - 3);
        return dev;
    }

    static byte[] all(dev.volumes.device.Device d) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) d.size());
        d.read(buf, 0);
        return buf.array();
    }

    static FreezeOptions options() {
        return FreezeOptions.defaults().withChunkSize(CS).withCreated(Instant.parse("2026-01-02T03:04:05Z"));
    }

    private void roundTrip(RegistryClient client) throws IOException {
        client.ping();
        MemoryDevice src = sample(1);
        FreezeResult r = OciImages.freeze(src, client, ImageRef.parse("vols/sample:v1"), options());
        assertThat(r.dataChunks()).isEqualTo(5);
        assertThat(r.distinctBlobs()).isEqualTo(4);
        assertThat(r.blobsUploaded()).isEqualTo(4);
        try (ImageDevice img = ImageDevice.open(client, ImageRef.parse("vols/sample:v1"), ImageOptions.defaults())) {
            assertThat(img.size()).isEqualTo(src.size());
            assertThat(all(img)).isEqualTo(all(src));
            assertThat(img.downloads()).isEqualTo(4); // the repeated chunk is pulled once
        }
        FreezeResult again = OciImages.freeze(src, client, ImageRef.parse("vols/sample:v2"), options());
        assertThat(again.blobsUploaded()).isZero();
        assertThat(again.blobsSkipped()).isEqualTo(4);
        assertThat(again.ref()).isEqualTo(r.ref().withDigest(Digest.of(r.ref().reference())));
        assertThat(client.listTags("vols/sample")).containsExactlyInAnyOrder("v1", "v2");

        // commit round trip: overlay, write, commit in place, then into another repository (mount)
        Path spill = java.nio.file.Files.createTempDirectory(tmp, "spill");
        try (Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/sample:v1"), ImageOptions.defaults()),
                spill)) {
            byte[] edit = new byte[3000];
            Arrays.fill(edit, (byte) 0x3C);
            o.write(ByteBuffer.wrap(edit), 2L * CS + 100);
            src.write(ByteBuffer.wrap(edit), 2L * CS + 100);
            FreezeResult v3 = o.commit(ImageRef.parse("vols/sample:v3"), options());
            assertThat(v3.blobsUploaded()).isEqualTo(1);
            o.write(ByteBuffer.wrap(edit), 20L * CS);
            src.write(ByteBuffer.wrap(edit), 20L * CS);
            FreezeResult fork = o.commit(ImageRef.parse("forks/sample:v1"), options());
            assertThat(fork.blobsUploaded()).isEqualTo(1);
            assertThat(fork.blobsSkipped()).isEqualTo(5); // every reused blob mounted from vols/sample
        }
        for (String ref : new String[] {"vols/sample:v3", "forks/sample:v1"}) {
            try (ImageDevice img = ImageDevice.open(client, ImageRef.parse(ref), ImageOptions.defaults())) {
                if (ref.startsWith("forks")) {
                    assertThat(all(img)).isEqualTo(all(src));
                }
            }
        }
    }

    @Test
    void noAuthRoundTrip() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            roundTrip(RegistryClient.builder(reg.uri()).useDockerConfig(false).build());
        }
    }

    @Test
    void htpasswdRoundTripAndWrongPassword() throws IOException {
        try (TestRegistry reg = TestRegistry.withHtpasswd(tmp.resolve("reg"), "alice", "s3cret-pw")) {
            roundTrip(RegistryClient.builder(reg.uri()).credentials(new Credentials("alice", "s3cret-pw")).build());
            RegistryClient wrong = RegistryClient.builder(reg.uri()).credentials(new Credentials("alice", "nope-pw")).build();
            assertThatThrownBy(wrong::ping).isInstanceOf(AuthenticationException.class)
                    .hasMessageContaining("refused the credentials of user 'alice'").hasMessageNotContaining("nope-pw");
            RegistryClient anonymous = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            assertThatThrownBy(() -> ImageDevice.open(anonymous, ImageRef.parse("vols/sample:v1"), ImageOptions.defaults()))
                    .isInstanceOf(AuthenticationException.class).hasMessageContaining("none are configured");
        }
    }

    @Test
    void tokenRoundTripAndWrongPassword() throws IOException {
        try (TokenServer tokens = new TokenServer(tmp.resolve("tok"), "bob", "t0ken-pw", 300);
                TestRegistry reg = TestRegistry.withTokens(tmp.resolve("reg"), tokens)) {
            roundTrip(RegistryClient.builder(reg.uri()).credentials(new Credentials("bob", "t0ken-pw")).build());
            // tokens are cached per scope: far fewer tokens than requests
            assertThat(tokens.issued()).isBetween(1, 12);
            RegistryClient wrong = RegistryClient.builder(reg.uri()).credentials(new Credentials("bob", "bad-pw")).build();
            assertThatThrownBy(() -> wrong.listTags("vols/sample")).isInstanceOf(AuthenticationException.class)
                    .hasMessageContaining("token server refused user 'bob'").hasMessageNotContaining("bad-pw");
        }
    }

    /** A clock the test moves by hand (token expiry). */
    static final class ManualClock extends java.time.Clock {
        private volatile Instant now = Instant.now();

        void advance(java.time.Duration d) {
            now = now.plus(d);
        }

        @Override
        public java.time.ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public java.time.Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @Test
    void tokensAreSharedByConcurrentFirstRequestsCachedPerScopeAndRenewedOnExpiry() throws Exception {
        try (TokenServer tokens = new TokenServer(tmp.resolve("tok"), "dave", "pw", 300);
                TestRegistry reg = TestRegistry.withTokens(tmp.resolve("reg"), tokens)) {
            ManualClock clock = new ManualClock();
            RegistryClient client = RegistryClient.builder(reg.uri()).credentials(new Credentials("dave", "pw"))
                    .clock(clock).build();
            java.util.List<Thread> threads = new java.util.ArrayList<>();
            java.util.concurrent.atomic.AtomicInteger ok = new java.util.concurrent.atomic.AtomicInteger();
            for (int i = 0; i < 16; i++) {
                threads.add(Thread.ofVirtual().start(() -> {
                    try {
                        if (client.blobSize("vols/t", Digest.EMPTY).isEmpty()) {
                            ok.incrementAndGet();
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            assertThat(ok.get()).isEqualTo(16);
            assertThat(tokens.issued()).isEqualTo(1);
            client.listTags("vols/t"); // same scope: cached token
            assertThat(tokens.issued()).isEqualTo(1);
            client.listTags("vols/other"); // another scope: another token
            assertThat(tokens.issued()).isEqualTo(2);
            clock.advance(java.time.Duration.ofSeconds(295)); // inside the renewal margin
            client.listTags("vols/t");
            assertThat(tokens.issued()).isEqualTo(3);
        }
    }

    @Test
    void credentialsFromDockerConfig() throws IOException {
        try (TestRegistry reg = TestRegistry.withHtpasswd(tmp.resolve("reg"), "carol", "pw-from-config")) {
            Path home = tmp.resolve("home");
            java.nio.file.Files.createDirectories(home.resolve(".docker"));
            String auth = java.util.Base64.getEncoder().encodeToString("carol:pw-from-config".getBytes());
            java.nio.file.Files.writeString(home.resolve(".docker/config.json"),
                    "{\"auths\":{\"http://127.0.0.1:" + reg.port() + "\":{\"auth\":\"" + auth + "\"}}}");
            RegistryClient client = RegistryClient.builder(reg.uri()).home(home).build();
            client.ping();
            assertThat(client.listTags("nothing/here")).isEmpty();
        }
    }
}

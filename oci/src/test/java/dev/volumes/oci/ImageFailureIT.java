package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the pull side does when the registry serves bad bytes or dies mid-transfer. */
class ImageFailureIT {

    @TempDir
    Path tmp;

    @Test
    void corruptedBlobInRegistryStorageIsADigestMismatchAndIsNotCached() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice src = RegistryAuthIT.sample(7);
            FreezeResult r = OciImages.freeze(src, client, ImageRef.parse("vols/corrupt:v1"), RegistryAuthIT.options());
            Digest victim = r.config().chunks().get(0);
            Path file = reg.blobFile(victim);
            byte[] bytes = Files.readAllBytes(file);
            bytes[1234] ^= 0x40; // same length, one bit flipped on the registry's disk
            Files.write(file, bytes);
            Path cacheDir = tmp.resolve("cache");
            try (ImageDevice img = ImageDevice.open(client, ImageRef.parse("vols/corrupt:v1"),
                    ImageOptions.defaults().withCacheDirectory(cacheDir))) {
                Throwable t = catchThrowable(() -> img.read(ByteBuffer.allocate(10), 0));
                assertThat(t).isInstanceOf(IOException.class).hasMessageContaining("digest mismatch")
                        .hasRootCauseInstanceOf(DigestMismatchException.class);
                DigestMismatchException dm = (DigestMismatchException) t.getCause();
                assertThat(dm.expected()).isEqualTo(victim);
                assertThat(dm.actual()).isEqualTo(Digest.sha256(bytes));
                assertThat(img.chunkCached(0)).isFalse();
                assertThat(Files.exists(cacheDir.resolve(victim.hex()))).isFalse();
                // other chunks are fine
                ByteBuffer ok = ByteBuffer.allocate(RegistryAuthIT.CS);
                img.read(ok, RegistryAuthIT.CS);
                ByteBuffer want = ByteBuffer.allocate(RegistryAuthIT.CS);
                src.read(want, RegistryAuthIT.CS);
                assertThat(ok.array()).isEqualTo(want.array());
            }
        }
    }

    @Test
    void registryStoppedMidPullGivesACleanErrorAndNothingWrongIsCached() throws Exception {
        Path cacheDir = tmp.resolve("cache");
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient direct = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            int cs = 1 << 20;
            MemoryDevice src = MemoryDevice.create("src", 16L * cs);
            Random rnd = new Random(42);
            byte[] chunk = new byte[cs];
            for (int i = 0; i < 16; i++) {
                rnd.nextBytes(chunk);
                src.write(ByteBuffer.wrap(chunk), (long) i * cs);
            }
            OciImages.freeze(src, direct, ImageRef.parse("vols/dying:v1"), FreezeOptions.defaults().withChunkSize(cs));
            try (DyingProxy proxy = new DyingProxy(reg.port(), 1024)) {
                RegistryClient slow = RegistryClient.builder(proxy.uri()).useDockerConfig(false)
                        .retries(2, Duration.ofMillis(20)).requestTimeout(Duration.ofSeconds(5)).build();
                ImageDevice img = ImageDevice.open(slow, ImageRef.parse("vols/dying:v1"),
                        ImageOptions.defaults().withReadAhead(0).withCacheDirectory(cacheDir));
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Thread reader = Thread.ofVirtual().start(() -> {
                    try {
                        img.read(ByteBuffer.allocate(16 * cs), 0);
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                });
                // wait until a chunk is part-way through (manifest and config are a few KB), then stop
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (proxy.forwarded() < 200_000 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                reg.stop();
                reader.join(Duration.ofSeconds(60));
                assertThat(reader.isAlive()).isFalse();
                System.out.println("mid-pull failure: " + failure.get());
                assertThat(failure.get()).as("the read must fail").isInstanceOf(IOException.class)
                        .hasMessageContaining("vols/dying").hasMessageContaining("broke off");
                for (int i = 0; i < 16; i++) {
                    if (img.chunkCached(i)) { // anything that did get cached is verified content
                        ByteBuffer a = ByteBuffer.allocate(cs);
                        img.read(a, (long) i * cs);
                        ByteBuffer b = ByteBuffer.allocate(cs);
                        src.read(b, (long) i * cs);
                        assertThat(a.array()).isEqualTo(b.array());
                    }
                }
                try (var files = Files.list(cacheDir)) {
                    for (Path f : files.toList()) { // no partial or temporary file left
                        assertThat(Digest.sha256(Files.readAllBytes(f)).hex()).isEqualTo(f.getFileName().toString());
                    }
                }
                assertThatThrownBy(() -> img.read(ByteBuffer.allocate(16 * cs), 0)).isInstanceOf(IOException.class);
                reg.restart();
                proxy.fullSpeed();
                ByteBuffer all = ByteBuffer.allocate(16 * cs);
                img.read(all, 0);
                ByteBuffer want = ByteBuffer.allocate(16 * cs);
                src.read(want, 0);
                assertThat(all.array()).isEqualTo(want.array());
            }
        }
    }
}

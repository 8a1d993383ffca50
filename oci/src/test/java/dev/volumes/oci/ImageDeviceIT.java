package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Capability;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lazy pull, concurrency, read-ahead, persistent cache and extents of ImageDevice against docker-registry. */
class ImageDeviceIT {

    static final int CS = 64 << 10;

    @TempDir
    Path tmp;

    private static MemoryDevice striped(int chunks) throws IOException {
        MemoryDevice d = MemoryDevice.create("striped", (long) chunks * CS);
        Random r = new Random(11);
        byte[] b = new byte[CS];
        for (int i = 0; i < chunks; i += 2) { // even chunks data, odd chunks holes
            r.nextBytes(b);
            d.write(ByteBuffer.wrap(b), (long) i * CS);
        }
        return d;
    }

    @Test
    void lazyConcurrentReadAheadAndPersistentCache() throws Exception {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice src = striped(64);
            ImageRef ref = ImageRef.parse("img/striped:v1");
            OciImages.freeze(src, client, ref, FreezeOptions.defaults().withChunkSize(CS));
            byte[] want = RegistryAuthIT.all(src);
            Path cacheDir = tmp.resolve("cache");

            try (ImageDevice img = ImageDevice.open(client, ref, ImageOptions.defaults().withReadAhead(0)
                    .withCacheDirectory(cacheDir))) {
                assertThat(img.capabilities().has(Capability.READ_ONLY)).isTrue();
                assertThat(img.capabilities().has(Capability.EXTENTS)).isTrue();
                assertThat(img.downloads()).isZero(); // nothing pulled at open
                List<Extent> ex = img.extents(0, img.size());
                assertThat(ex).hasSize(64);
                assertThat(ex.get(1)).isEqualTo(new Extent(CS, CS, Extent.Type.HOLE));
                ByteBuffer hole = ByteBuffer.allocate(CS);
                img.read(hole, CS);
                assertThat(img.downloads()).isZero(); // holes are never fetched
                // 16 threads read the whole device at once: each chunk is downloaded exactly once
                List<Thread> threads = new ArrayList<>();
                List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
                for (int t = 0; t < 16; t++) {
                    threads.add(Thread.ofVirtual().start(() -> {
                        try {
                            byte[] got = RegistryAuthIT.all(img);
                            if (!java.util.Arrays.equals(got, want)) {
                                errors.add(new AssertionError("content differs"));
                            }
                        } catch (Throwable e) {
                            errors.add(e);
                        }
                    }));
                }
                for (Thread t : threads) {
                    t.join();
                }
                assertThat(errors).isEmpty();
                assertThat(img.downloads()).isEqualTo(32);
            }
            try (var files = Files.list(cacheDir)) {
                assertThat(files.count()).isEqualTo(32);
            }
            // reopened with the same cache directory: served from disk, verified, no download
            try (ImageDevice again = ImageDevice.open(client, ref, ImageOptions.defaults().withCacheDirectory(cacheDir))) {
                assertThat(RegistryAuthIT.all(again)).isEqualTo(want);
                assertThat(again.downloads()).isZero();
                assertThat(again.diskCacheHits()).isEqualTo(32);
            }
            // sequential reads trigger read-ahead of the following chunks
            try (ImageDevice seq = ImageDevice.open(client, ref, ImageOptions.defaults().withReadAhead(4))) {
                ByteBuffer buf = ByteBuffer.allocate(512);
                seq.read(buf.clear(), 0);
                seq.read(buf.clear(), CS);       // hole, sequential
                seq.read(buf.clear(), 2L * CS);  // sequential: prefetch chunks 3..6 (4 and 6 hold data)
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (!(seq.chunkCached(4) && seq.chunkCached(6)) && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(seq.chunkCached(4)).isTrue();
                assertThat(seq.chunkCached(6)).isTrue();
                assertThat(seq.chunkCached(8)).isFalse();
            }
            // a small memory bound holds
            try (ImageDevice small = ImageDevice.open(client, ref, ImageOptions.defaults().withCacheBytes(4L * CS)
                    .withReadAhead(0))) {
                assertThat(RegistryAuthIT.all(small)).isEqualTo(want);
                assertThat(small.cachedBytes()).isLessThanOrEqualTo(4L * CS);
            }
        }
    }
}

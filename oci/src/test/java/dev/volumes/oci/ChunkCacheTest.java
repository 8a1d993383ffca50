package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chunk cache's promises: one load per chunk under concurrent misses, a byte bound, verified disk files. */
class ChunkCacheTest {

    @TempDir
    Path tmp;

    private final Map<Digest, byte[]> store = new ConcurrentHashMap<>();

    private Digest put(byte[] bytes) {
        Digest d = Digest.sha256(bytes);
        store.put(d, bytes);
        return d;
    }

    @Test
    void aMissThatRacesACompletedLoadDoesNotLoadAgain() throws Exception {
        // B misses in memory, then A loads, remembers and leaves the single-flight map before B
        // looks there: B must find A's bytes instead of downloading the chunk a second time.
        byte[] b = new byte[4096];
        Seeds.random("ChunkCacheTest.raceAfterMiss").nextBytes(b);
        Digest d = put(b);
        AtomicInteger loads = new AtomicInteger();
        ChunkCache cache = new ChunkCache(1 << 20, null, (digest, len) -> {
            loads.incrementAndGet();
            return store.get(digest);
        });
        CountDownLatch bMissed = new CountDownLatch(1);
        CountDownLatch aDone = new CountDownLatch(1);
        Thread bThread = Thread.currentThread();
        cache.afterMissForTest = () -> {
            if (Thread.currentThread() == bThread) {
                bMissed.countDown();
                try {
                    aDone.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        Thread a = Thread.ofVirtual().start(() -> {
            try {
                bMissed.await();
                assertThat(cache.get(d, 4096)).isEqualTo(b);
            } catch (Exception e) {
                throw new RuntimeException(e);
            } finally {
                aDone.countDown();
            }
        });
        assertThat(cache.get(d, 4096)).isEqualTo(b);
        a.join();
        assertThat(loads.get()).isEqualTo(1);
    }

    @Test
    void concurrentMissesOnOneChunkLoadItOnce() throws Exception {
        Random rnd = Seeds.random("ChunkCacheTest.concurrentMisses");
        byte[] b = new byte[4096];
        rnd.nextBytes(b);
        Digest d = put(b);
        AtomicInteger loads = new AtomicInteger();
        CountDownLatch release = new CountDownLatch(1);
        ChunkCache cache = new ChunkCache(1 << 20, null, (digest, len) -> {
            loads.incrementAndGet();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            return store.get(digest);
        });
        List<Thread> threads = new ArrayList<>();
        List<byte[]> got = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int i = 0; i < 32; i++) {
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    got.add(cache.get(d, 4096));
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        Thread.sleep(100);
        release.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertThat(loads.get()).isEqualTo(1);
        assertThat(got).hasSize(32).allSatisfy(x -> assertThat(x).isEqualTo(b));
    }

    @Test
    void memoryStaysWithinTheBoundAndEvictsLeastRecentlyUsed() throws IOException {
        AtomicInteger loads = new AtomicInteger();
        ChunkCache cache = new ChunkCache(3 * 4096, null, (d, len) -> {
            loads.incrementAndGet();
            return store.get(d);
        });
        Digest[] ds = new Digest[5];
        for (int i = 0; i < 5; i++) {
            byte[] b = new byte[4096];
            b[0] = (byte) (i + 1);
            ds[i] = put(b);
        }
        cache.get(ds[0], 4096);
        cache.get(ds[1], 4096);
        cache.get(ds[2], 4096);
        cache.get(ds[0], 4096); // refresh 0
        cache.get(ds[3], 4096); // evicts 1
        assertThat(cache.heldBytes()).isLessThanOrEqualTo(3 * 4096);
        assertThat(cache.cached(ds[0])).isTrue();
        assertThat(cache.cached(ds[1])).isFalse();
        assertThat(loads.get()).isEqualTo(4);
    }

    @Test
    void failedLoadsAreNotCachedAndTheNextReaderRetries() throws IOException {
        byte[] b = new byte[4096];
        b[7] = 7;
        Digest d = put(b);
        AtomicInteger calls = new AtomicInteger();
        ChunkCache cache = new ChunkCache(1 << 20, tmp.resolve("c"), (digest, len) -> {
            if (calls.incrementAndGet() == 1) {
                throw new IOException("registry went away");
            }
            return store.get(digest);
        });
        assertThatThrownBy(() -> cache.get(d, 4096)).hasMessageContaining("went away");
        assertThat(cache.cached(d)).isFalse();
        assertThat(tmp.resolve("c").resolve(d.hex())).doesNotExist();
        assertThat(cache.get(d, 4096)).isEqualTo(b);
    }

    @Test
    void diskFilesAreVerifiedOnLoadAndCorruptOnesReplaced() throws IOException {
        byte[] b = new byte[8192];
        new Random(1).nextBytes(b);
        Digest d = put(b);
        Path dir = tmp.resolve("disk");
        AtomicInteger loads = new AtomicInteger();
        ChunkCache.Loader loader = (digest, len) -> {
            loads.incrementAndGet();
            return store.get(digest);
        };
        new ChunkCache(0, dir, loader).get(d, 8192); // memory bound 0: only the disk keeps it
        assertThat(Files.readAllBytes(dir.resolve(d.hex()))).isEqualTo(b);
        ChunkCache second = new ChunkCache(0, dir, loader);
        assertThat(second.get(d, 8192)).isEqualTo(b);
        assertThat(second.diskHits()).isEqualTo(1);
        assertThat(loads.get()).isEqualTo(1);
        byte[] bad = b.clone();
        bad[100] ^= 1;
        Files.write(dir.resolve(d.hex()), bad);
        ChunkCache third = new ChunkCache(0, dir, loader);
        assertThat(third.get(d, 8192)).isEqualTo(b);
        assertThat(third.corruptFiles()).isEqualTo(1);
        assertThat(loads.get()).isEqualTo(2);
        assertThat(Files.readAllBytes(dir.resolve(d.hex()))).isEqualTo(b);
    }
}

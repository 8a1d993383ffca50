package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.testkit.Seeds;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Concurrency harness for the chunk cache: threads own interleaved 512-byte sectors (so every
 * chunk is shared by all threads), write and verify them while others sync, FUA-write and
 * force eviction through a 3-chunk cache, against {@link FakeS3} with random latency. Invariant:
 * every thread always reads back its own last write; after close, a fresh instance with an
 * empty cache reads back every thread's last writes.
 */
class S3DeviceStressTest {

    static final int CHUNK = 4096;
    static final int SECTOR = 512;
    static final int THREADS = 8;

    @Test
    void interleavedWritersReadersSyncsAndEvictionsKeepEveryThreadsLastWrite() throws Exception {
        String test = "S3DeviceStressTest#interleaved";
        long seed = Seeds.forTest(test);
        FakeS3 fake = new FakeS3();
        fake.maxLatencyMicros = 300;
        long size = 24L * CHUNK;
        int sectors = (int) (size / SECTOR);
        byte[][] model = new byte[sectors][];
        try (S3Client client = FakeS3.client(fake)) {
            S3Device d = S3Device.create(S3DeviceOptions.builder(client, "b", "p").chunkSize(CHUNK).cacheBytes(3L * CHUNK)
                    .uploadConcurrency(3).readAheadChunks(2).build(), size);
            int ops = Seeds.scaled(400);
            try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int me = t;
                    futures.add(ex.submit(() -> {
                        Random r = new Random(seed + me);
                        for (int i = 0; i < ops; i++) {
                            int s = r.nextInt(sectors / THREADS) * THREADS + me;
                            int action = r.nextInt(10);
                            if (action < 5) {
                                byte[] b = new byte[SECTOR];
                                r.nextBytes(b);
                                if (r.nextInt(8) == 0) {
                                    b = new byte[SECTOR]; // zeros: chunks may become all-zero
                                }
                                d.write(ByteBuffer.wrap(b), (long) s * SECTOR,
                                        r.nextInt(20) == 0 ? dev.volumes.device.WriteFlag.FUA : dev.volumes.device.WriteFlag.NONE);
                                model[s] = b;
                            } else if (action < 9) {
                                ByteBuffer got = ByteBuffer.allocate(SECTOR);
                                d.read(got, (long) s * SECTOR);
                                byte[] want = model[s] == null ? new byte[SECTOR] : model[s];
                                assertThat(got.array()).as("thread %d sector %d op %d; %s", me, s, i,
                                        Seeds.reproduceWith(test)).isEqualTo(want);
                            } else {
                                d.sync();
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            }
            d.close();
            try (S3Device fresh = S3Device.open(S3DeviceOptions.builder(client, "b", "p").readOnly(true).build())) {
                for (int s = 0; s < sectors; s++) {
                    ByteBuffer got = ByteBuffer.allocate(SECTOR);
                    fresh.read(got, (long) s * SECTOR);
                    assertThat(got.array()).as("sector %d after reopen; %s", s, Seeds.reproduceWith(test))
                            .isEqualTo(model[s] == null ? new byte[SECTOR] : model[s]);
                }
            }
            // all-zero chunks are never stored
            for (var e : fake.objects.entrySet()) {
                if (e.getKey().startsWith("p/chunks/")) {
                    assertThat(ChunkCache.isZero(e.getValue().data())).as(e.getKey()).isFalse();
                }
            }
        }
    }
}

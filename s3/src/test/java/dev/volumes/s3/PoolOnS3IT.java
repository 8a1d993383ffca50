package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A pool on an S3Device against s3proxy: written, snapshotted, closed and reopened by a fresh
 * device instance with an empty cache; and the same with the S3Device's process "dying" at a
 * random request of a pool sync (every later request fails, the cache is abandoned), after which
 * the pool must open at the last committed generation or the one being committed, with the
 * snapshot unchanged.
 */
class PoolOnS3IT {

    static final int CHUNK = 64 << 10;
    static final long DEVICE = 48L << 20;
    static S3ProxyPeer peer;
    static S3Client direct;
    static final AtomicInteger counter = new AtomicInteger();

    @BeforeAll
    static void start() throws IOException {
        peer = S3ProxyPeer.start();
        direct = S3Client.create(peer.config().build());
        direct.createBucket("pools");
    }

    @AfterAll
    static void stop() throws IOException {
        if (direct != null) {
            direct.close();
        }
        if (peer != null) {
            peer.close();
        }
    }

    static S3DeviceOptions.Builder options(S3Client c, String prefix) {
        return S3DeviceOptions.builder(c, "pools", prefix).chunkSize(CHUNK).cacheBytes(4L << 20).uploadConcurrency(8);
    }

    static byte[] read(Pool pool, String volume, int length) throws IOException {
        try (Device v = pool.openVolume(volume)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            v.read(b, 0);
            return b.array();
        }
    }

    static void writeRandom(Pool pool, String volume, byte[] model, Random r, int writes) throws IOException {
        try (Device v = pool.openVolume(volume)) {
            for (int i = 0; i < writes; i++) {
                int off = r.nextInt(model.length - 40_000);
                byte[] b = new byte[r.nextInt(1, 40_000)];
                r.nextBytes(b);
                v.write(ByteBuffer.wrap(b), off);
                System.arraycopy(b, 0, model, off, b.length);
            }
        }
    }

    @Test
    void poolWrittenSnapshottedClosedAndReopenedWithEmptyCacheHasEqualContents() throws IOException {
        String test = "PoolOnS3IT#reopen";
        Random r = new Random(Seeds.forTest(test));
        String prefix = "p" + counter.incrementAndGet() + "/";
        byte[] a = new byte[8 << 20];
        byte[] b = new byte[3 << 20];
        try (Pool pool = Pool.create(S3Device.create(options(direct, prefix).build(), DEVICE), PoolOptions.defaults())) {
            pool.createVolume("a", a.length);
            pool.createVolume("b", b.length);
            writeRandom(pool, "a", a, r, 60);
            writeRandom(pool, "b", b, r, 30);
            pool.snapshot("a", "a-snap");
            byte[] snap = a.clone();
            writeRandom(pool, "a", a, r, 40);
            pool.sync();
            assertThat(read(pool, "a-snap", a.length)).isEqualTo(snap);
            a = a.clone();
            pool.close();
            try (Pool reopened = Pool.open(S3Device.open(options(direct, prefix).build()))) {
                assertThat(read(reopened, "a", a.length)).as(Seeds.reproduceWith(test)).isEqualTo(a);
                assertThat(read(reopened, "b", b.length)).as(Seeds.reproduceWith(test)).isEqualTo(b);
                assertThat(read(reopened, "a-snap", a.length)).as(Seeds.reproduceWith(test)).isEqualTo(snap);
                assertThat(reopened.check().toString()).isNotEmpty();
            }
        }
    }

    @Test
    void deviceDyingAtARandomRequestOfASyncLeavesThePoolAtACommittedGeneration() throws IOException {
        String test = "PoolOnS3IT#crash";
        int iterations = Seeds.scaled(6);
        for (int it = 0; it < iterations; it++) {
            long seed = Seeds.forTest(test) + it;
            Random r = new Random(seed);
            String prefix = "c" + counter.incrementAndGet() + "/";
            AtomicLong budget = new AtomicLong(Long.MAX_VALUE);
            AtomicLong requests = new AtomicLong();
            S3Client dying = S3Client.create(peer.config().maxAttempts(2).requestTimeout(Duration.ofSeconds(20)).build(),
                    d -> { }, ThreadLocalRandom.current(), next -> request -> {
                        requests.incrementAndGet();
                        if (budget.decrementAndGet() < 0) {
                            throw new IOException("power cut (simulated process death)");
                        }
                        return next.send(request);
                    });
            byte[] committed = new byte[4 << 20];
            Pool pool = Pool.create(S3Device.create(options(dying, prefix).build(), DEVICE), PoolOptions.defaults());
            pool.createVolume("v", committed.length);
            writeRandom(pool, "v", committed, r, 40);
            pool.snapshot("v", "v-snap");
            byte[] snap = committed.clone();
            long before = requests.get();
            pool.sync();
            long perSync = requests.get() - before; // a similar sync follows: cut inside it
            long generation = pool.info().generation();
            byte[] next = committed.clone();
            writeRandom(pool, "v", next, r, 40);
            long cut = r.nextLong(0, perSync + perSync / 4 + 1);
            budget.set(cut);
            boolean synced;
            try {
                pool.sync();
                synced = true;
            } catch (IOException expected) {
                synced = false;
            }
            // The process "dies": the pool, device and cache are abandoned without closing.
            try (Pool reopened = Pool.open(S3Device.open(options(direct, prefix).takeOver(true).build()))) {
                byte[] got = read(reopened, "v", committed.length);
                String why = "cut after " + cut + " requests, sync " + (synced ? "completed" : "failed") + ", generation "
                        + reopened.info().generation() + " vs committed " + generation + "; " + Seeds.reproduceWith(test);
                if (synced) {
                    assertThat(got).as(why).isEqualTo(next);
                } else {
                    assertThat(got.equals(committed) || java.util.Arrays.equals(got, committed)
                            || java.util.Arrays.equals(got, next)).as(why).isTrue();
                }
                assertThat(reopened.info().generation()).as(why).isGreaterThanOrEqualTo(generation);
                assertThat(read(reopened, "v-snap", snap.length)).as(why).isEqualTo(snap);
                System.out.println("crash iteration " + it + ": " + why);
            }
            dying.close();
        }
    }
}

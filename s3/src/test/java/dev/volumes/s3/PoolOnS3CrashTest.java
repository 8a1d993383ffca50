package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.testkit.CrashReport;
import dev.volumes.testkit.CrashSimulator;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Many crash points, fast, on {@link FakeS3}: (1) the S3Device "process" dies at a random request
 * of a pool sync (its cache is abandoned; every later request fails), and (2) the pool runs on
 * {@link CrashSimulator} over an S3Device with the power cut at a random mutation. After each, a
 * fresh S3Device with an empty cache must open the pool at a committed generation with synced data
 * and the snapshot intact. The s3proxy variant of (1) is {@code PoolOnS3IT}.
 */
class PoolOnS3CrashTest {

    static final int CHUNK = 16 << 10;
    static final long DEVICE = 24L << 20;

    static S3DeviceOptions.Builder options(S3Client c) {
        return S3DeviceOptions.builder(c, "b", "pool").chunkSize(CHUNK).cacheBytes(1L << 20).uploadConcurrency(4);
    }

    static byte[] read(Pool pool, String volume, int length) throws IOException {
        try (Device v = pool.openVolume(volume)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            v.read(b, 0);
            return b.array();
        }
    }

    static void writeRandom(Pool pool, byte[] model, Random r, int writes) throws IOException {
        try (Device v = pool.openVolume("v")) {
            for (int i = 0; i < writes; i++) {
                int off = r.nextInt(model.length - 20_000);
                byte[] b = new byte[r.nextInt(1, 20_000)];
                r.nextBytes(b);
                v.write(ByteBuffer.wrap(b), off);
                System.arraycopy(b, 0, model, off, b.length);
            }
        }
    }

    @Test
    void deviceDeathAtEveryKindOfRequestOfASyncLeavesACommittedPool() throws IOException {
        String test = "PoolOnS3CrashTest#deviceDeath";
        int iterations = Seeds.scaled(15);
        int[] outcomes = new int[2];
        for (int it = 0; it < iterations; it++) {
            long seed = Seeds.forTest(test) + it;
            Random r = new Random(seed);
            FakeS3 fake = new FakeS3();
            AtomicLong budget = new AtomicLong(Long.MAX_VALUE);
            AtomicLong requests = new AtomicLong();
            S3Config cfg = S3Config.builder().endpoint(URI.create("http://127.0.0.1:1")).credentials(AwsCredentials.of("a", "b"))
                    .unsignedPayload(true).maxAttempts(1).build();
            S3Client dying = S3Client.create(cfg, d -> { }, ThreadLocalRandom.current(), next -> request -> {
                requests.incrementAndGet();
                if (budget.decrementAndGet() < 0) {
                    throw new IOException("power cut");
                }
                return fake.send(request);
            });
            byte[] committed = new byte[2 << 20];
            Pool pool = Pool.create(S3Device.create(options(dying).build(), DEVICE), PoolOptions.defaults());
            pool.createVolume("v", committed.length);
            writeRandom(pool, committed, r, 30);
            pool.snapshot("v", "snap");
            byte[] snap = committed.clone();
            long before = requests.get();
            pool.sync();
            long perSync = requests.get() - before; // a similar sync follows: cut inside it
            long generation = pool.info().generation();
            byte[] next = committed.clone();
            writeRandom(pool, next, r, 30);
            long cut = r.nextLong(0, perSync + perSync / 4 + 1);
            budget.set(cut);
            boolean synced;
            try {
                pool.sync();
                synced = true;
            } catch (IOException expected) {
                synced = false;
            }
            try (S3Client fresh = FakeS3.client(fake);
                    Pool reopened = Pool.open(S3Device.open(options(fresh).takeOver(true).build()))) {
                byte[] got = read(reopened, "v", committed.length);
                String why = "iteration " + it + " cut after " + cut + " requests, sync " + (synced ? "ok" : "failed")
                        + "; " + Seeds.reproduceWith(test);
                assertThat(synced ? Arrays.equals(got, next) : Arrays.equals(got, committed) || Arrays.equals(got, next))
                        .as(why).isTrue();
                assertThat(reopened.info().generation()).as(why).isGreaterThanOrEqualTo(generation);
                assertThat(read(reopened, "snap", snap.length)).as(why).isEqualTo(snap);
            }
            outcomes[synced ? 1 : 0]++;
            dying.close();
        }
        System.out.println("device death: syncs cut " + outcomes[0] + ", completed " + outcomes[1]);
        assertThat(outcomes[0]).as("some syncs must be cut").isPositive();
    }

    @Test
    void poolOnCrashSimulatorOverS3DeviceReopensWithSyncedDataAfterEveryCut() throws IOException {
        String test = "PoolOnS3CrashTest#crashSimulator";
        int iterations = Seeds.scaled(15);
        int[] outcomes = new int[2];
        for (int it = 0; it < iterations; it++) {
            long seed = Seeds.forTest(test) + it;
            Random r = new Random(seed);
            FakeS3 fake = new FakeS3();
            try (S3Client client = FakeS3.client(fake)) {
                S3Device disk = S3Device.create(options(client).build(), DEVICE);
                CrashSimulator sim = CrashSimulator.wrap(disk, seed);
                byte[] committed = new byte[2 << 20];
                Pool pool = Pool.create(sim, PoolOptions.defaults());
                pool.createVolume("v", committed.length);
                long before = sim.mutations();
                writeRandom(pool, committed, r, 20);
                pool.snapshot("v", "snap");
                byte[] snap = committed.clone();
                pool.sync();
                long perPhase = sim.mutations() - before; // the next phase is similar: cut inside it
                byte[] next = committed.clone();
                sim.armPowerCut(r.nextLong(1, perPhase + perPhase / 4 + 2));
                boolean synced;
                try {
                    writeRandom(pool, next, r, 20);
                    pool.sync();
                    synced = true;
                } catch (IOException | RuntimeException cut) {
                    synced = false;
                }
                CrashReport report = sim.crash();
                disk.close(); // the S3Device itself syncs and releases; only the layer above crashed
                try (Pool reopened = Pool.open(S3Device.open(options(client).build()))) {
                    byte[] got = read(reopened, "v", committed.length);
                    String why = "iteration " + it + ", " + report + ", sync " + (synced ? "ok" : "cut") + "; "
                            + Seeds.reproduceWith(test);
                    assertThat(synced ? Arrays.equals(got, next) : Arrays.equals(got, committed) || Arrays.equals(got, next))
                            .as(why).isTrue();
                    assertThat(read(reopened, "snap", snap.length)).as(why).isEqualTo(snap);
                }
                outcomes[synced ? 1 : 0]++;
            }
        }
        System.out.println("crash simulator: cut " + outcomes[0] + ", completed " + outcomes[1]);
        assertThat(outcomes[0]).as("some runs must be cut").isPositive();
    }
}

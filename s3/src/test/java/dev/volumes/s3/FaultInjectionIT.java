package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * S3 client and S3Device through {@link FaultProxy}: operations succeed through retries or fail
 * with a clean IOException, and no write acknowledged by sync (or still held dirty) is lost.
 */
class FaultInjectionIT {

    static final int CHUNK = 64 << 10;
    static S3ProxyPeer peer;
    static S3Client direct;
    static final AtomicInteger counter = new AtomicInteger();

    @BeforeAll
    static void start() throws IOException {
        peer = S3ProxyPeer.start();
        direct = S3Client.create(peer.config().build());
        direct.createBucket("faults");
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

    private static S3Client through(FaultProxy proxy, int attempts) {
        return S3Client.create(peer.config().endpoint(proxy.endpoint()).maxAttempts(attempts)
                .requestTimeout(Duration.ofMillis(1500)).backoff(Duration.ofMillis(2), Duration.ofMillis(40)).build());
    }

    @Test
    void clientSucceedsThroughRetriesAndSurfacesSlowDownWhenOutOfAttempts() throws IOException {
        String test = "FaultInjectionIT#client";
        long seed = Seeds.forTest(test);
        try (FaultProxy proxy = new FaultProxy(peer.endpoint.getPort(), seed, 0.4);
                S3Client c = through(proxy, 15)) {
            Random r = new Random(seed);
            for (int i = 0; i < 40; i++) {
                byte[] data = new byte[r.nextInt(1, 200_000)];
                r.nextBytes(data);
                c.putObject("faults", "obj" + i, data);
                assertThat(c.getObject("faults", "obj" + i).data()).as(Seeds.reproduceWith(test)).isEqualTo(data);
            }
            System.out.println("client faults injected: " + proxy.summary());
            assertThat(proxy.count(FaultProxy.Fault.SLOWDOWN_503) + proxy.count(FaultProxy.Fault.ERROR_500)).isPositive();
            proxy.failEverything = true;
            try (S3Client once = through(proxy, 1)) {
                assertThatThrownBy(() -> once.getObject("faults", "obj0")).isInstanceOf(IOException.class);
            }
        }
    }

    @Test
    void deviceWorkloadLosesNoAcknowledgedWrite() throws IOException {
        String test = "FaultInjectionIT#device";
        long seed = Seeds.forTest(test);
        String prefix = "w" + counter.incrementAndGet() + "/";
        long size = 48L * CHUNK;
        byte[] model = new byte[(int) size];
        try (FaultProxy proxy = new FaultProxy(peer.endpoint.getPort(), seed, 0.3); S3Client c = through(proxy, 20)) {
            Random r = new Random(seed);
            S3Device d = S3Device.create(S3DeviceOptions.builder(c, "faults", prefix).chunkSize(CHUNK)
                    .cacheBytes(6L * CHUNK).uploadConcurrency(4).build(), size);
            int ops = 100 * Seeds.multiplier();
            for (int i = 0; i < ops; i++) {
                int off = r.nextInt((int) size - 70_000);
                byte[] b = new byte[r.nextInt(1, 70_000)];
                r.nextBytes(b);
                d.write(ByteBuffer.wrap(b), off);
                System.arraycopy(b, 0, model, off, b.length);
                if (i % 25 == 0) {
                    d.sync();
                }
                if (i % 10 == 0) {
                    ByteBuffer check = ByteBuffer.allocate(b.length);
                    d.read(check, off);
                    assertThat(check.array()).as(Seeds.reproduceWith(test)).isEqualTo(b);
                }
            }
            d.close();
            System.out.println("device faults injected: " + proxy.summary());
            assertThat(proxy.count(FaultProxy.Fault.RESET_AFTER)).as(Seeds.reproduceWith(test)).isPositive();
        }
        try (S3Device fresh = S3Device.open(S3DeviceOptions.builder(direct, "faults", prefix).readOnly(true).build())) {
            ByteBuffer all = ByteBuffer.allocate((int) size);
            fresh.read(all, 0);
            assertThat(all.array()).as(Seeds.reproduceWith(test)).isEqualTo(model);
        }
    }

    @Test
    void failedSyncAndCloseKeepDirtyDataAndARetryAfterRecoverySucceeds() throws IOException {
        String prefix = "f" + counter.incrementAndGet() + "/";
        byte[] data = new byte[3 * CHUNK + 5];
        new Random(Seeds.forTest("FaultInjectionIT#failedSync")).nextBytes(data);
        try (FaultProxy proxy = new FaultProxy(peer.endpoint.getPort(), 1, 0); S3Client c = through(proxy, 3)) {
            S3Device d = S3Device.create(S3DeviceOptions.builder(c, "faults", prefix).chunkSize(CHUNK)
                    .cacheBytes(16L * CHUNK).build(), 8L * CHUNK);
            d.write(ByteBuffer.wrap(data), 1000);
            proxy.failEverything = true;
            assertThatThrownBy(d::sync).isInstanceOf(IOException.class);
            assertThatThrownBy(d::close).isInstanceOf(IOException.class);
            ByteBuffer still = ByteBuffer.allocate(data.length);
            d.read(still, 1000); // still open, data still there
            assertThat(still.array()).isEqualTo(data);
            proxy.failEverything = false;
            d.close();
        }
        try (S3Device fresh = S3Device.open(S3DeviceOptions.builder(direct, "faults", prefix).readOnly(true).build())) {
            ByteBuffer b = ByteBuffer.allocate(data.length);
            fresh.read(b, 1000);
            assertThat(b.array()).isEqualTo(data);
        }
    }
}

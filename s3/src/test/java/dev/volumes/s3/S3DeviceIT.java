package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.Extent;
import dev.volumes.device.UnsupportedDeviceOperationException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** S3Device specifics against s3proxy: object layout, one writer per prefix, unsafe mode. */
class S3DeviceIT {

    static final int CHUNK = 64 << 10;
    static S3ProxyPeer peer;
    static S3Client client;
    static final AtomicInteger counter = new AtomicInteger();

    @BeforeAll
    static void start() throws IOException {
        peer = S3ProxyPeer.start();
        client = S3Client.create(peer.config().build());
        client.createBucket("dev");
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

    static S3DeviceOptions.Builder options(S3Client c, String prefix) {
        return S3DeviceOptions.builder(c, "dev", prefix).chunkSize(CHUNK).cacheBytes(8 * CHUNK).uploadConcurrency(4);
    }

    static String prefix() {
        return "d" + counter.incrementAndGet() + "/";
    }

    private static List<String> chunkKeys(String prefix) throws IOException {
        return client.listAll("dev", prefix + "chunks/", null).stream().map(S3Client.ObjectInfo::key).toList();
    }

    @Test
    void neverWrittenChunksAreAbsentAndZeroChunksAreDeletedNotStored() throws IOException {
        String p = prefix();
        try (S3Device d = S3Device.create(options(client, p).build(), 16L * CHUNK)) {
            byte[] data = new byte[CHUNK];
            ThreadLocalRandom.current().nextBytes(data);
            d.write(ByteBuffer.wrap(data), 3L * CHUNK);
            d.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 7L * CHUNK + 100);
            d.write(ByteBuffer.wrap(new byte[CHUNK]), 9L * CHUNK); // zeros: not stored
            d.sync();
            assertThat(chunkKeys(p)).containsExactly(p + "chunks/0000000000000003", p + "chunks/0000000000000007");
            assertThat(d.extents(0, 16L * CHUNK)).containsExactly(
                    new Extent(0, 3L * CHUNK, Extent.Type.HOLE), new Extent(3L * CHUNK, CHUNK, Extent.Type.DATA),
                    new Extent(4L * CHUNK, 3L * CHUNK, Extent.Type.HOLE), new Extent(7L * CHUNK, CHUNK, Extent.Type.DATA),
                    new Extent(8L * CHUNK, 8L * CHUNK, Extent.Type.HOLE));
            d.write(ByteBuffer.wrap(new byte[3]), 7L * CHUNK + 100); // chunk 7 back to all zeros
            d.discard(3L * CHUNK, CHUNK);
            d.sync();
            assertThat(chunkKeys(p)).isEmpty();
        }
        assertThat(client.headObject("dev", p + "meta")).isPresent();
    }

    @Test
    void secondWriterIsRefusedAndTakeOverDeposesTheFirst() throws IOException {
        String p = prefix();
        S3Device first = S3Device.create(options(client, p).build(), 4L * CHUNK);
        first.write(ByteBuffer.wrap(new byte[] {7}), 0);
        first.sync();
        assertThatThrownBy(() -> S3Device.open(options(client, p).build()))
                .isInstanceOf(DeviceInUseException.class).hasMessageContaining("held by writer");
        assertThatThrownBy(() -> S3Device.create(options(client, p).build(), 4L * CHUNK))
                .isInstanceOf(DeviceInUseException.class).hasMessageContaining("already exists");
        try (S3Device reader = S3Device.open(options(client, p).readOnly(true).build())) {
            ByteBuffer b = ByteBuffer.allocate(1);
            reader.read(b, 0);
            assertThat(b.get(0)).isEqualTo((byte) 7);
        }
        S3Device second = S3Device.open(options(client, p).takeOver(true).build());
        assertThat(second.epoch()).isEqualTo(first.epoch() + 1);
        first.write(ByteBuffer.wrap(new byte[] {9}), 1);
        assertThatThrownBy(first::sync).isInstanceOf(DeviceInUseException.class).hasMessageContaining("deposed");
        assertThatThrownBy(() -> first.write(ByteBuffer.wrap(new byte[] {9}), 1)).isInstanceOf(DeviceInUseException.class);
        assertThatThrownBy(first::close).isInstanceOf(DeviceInUseException.class);
        ByteBuffer check = ByteBuffer.allocate(2);
        second.read(check, 0);
        assertThat(check.array()).containsExactly(7, 0); // the deposed writer's sync uploaded nothing
        second.close();
        try (S3Device third = S3Device.open(options(client, p).build())) { // released by close: no takeOver needed
            assertThat(third.epoch()).isEqualTo(second.epoch() + 1);
        }
    }

    @Test
    void missingBucketWrongCredentialsAndMissingDeviceAreClearTypedErrors() {
        assertThatThrownBy(() -> S3Device.create(S3DeviceOptions.builder(client, "no-such-bucket", "x").build(), CHUNK))
                .isInstanceOf(S3NoSuchBucketException.class).hasMessageContaining("no-such-bucket");
        try (S3Client wrong = S3Client.create(peer.config().credentials(AwsCredentials.of(peer.credentials.accessKeyId(),
                "not-the-secret")).build())) {
            assertThatThrownBy(() -> S3Device.create(options(wrong, prefix()).build(), CHUNK))
                    .isInstanceOf(S3AccessDeniedException.class).hasMessageNotContaining("not-the-secret");
        }
        assertThatThrownBy(() -> S3Device.open(options(client, "never-created/").build()))
                .isInstanceOf(S3NoSuchKeyException.class).hasMessageContaining("never-created/meta");
    }

    @Test
    void withoutConditionalWritesOpeningForWriteIsRefusedUnlessUnsafe() throws IOException {
        // A stage that pretends the server ignores If-None-Match / If-Match (answers 200, never 412).
        try (S3Client ignoring = S3Client.create(peer.config().build(), d -> { }, ThreadLocalRandom.current(),
                next -> request -> request.headers().stream().anyMatch(h -> h.name().startsWith("If-"))
                        ? new S3Response(200, Map.of("ETag", List.of("\"x\"")), new byte[0])
                        : next.send(request))) {
            String p = prefix();
            assertThatThrownBy(() -> S3Device.create(options(ignoring, p).build(), CHUNK))
                    .isInstanceOf(UnsupportedDeviceOperationException.class)
                    .hasMessageContaining("allowUnsafeWithoutConditionalWrites");
            try (S3Device d = S3Device.create(options(ignoring, p).allowUnsafeWithoutConditionalWrites(true).build(),
                    CHUNK)) {
                d.write(ByteBuffer.wrap(new byte[] {5}), 0);
            }
            try (S3Device d = S3Device.open(options(client, p).readOnly(true).build())) {
                ByteBuffer b = ByteBuffer.allocate(1);
                d.read(b, 0);
                assertThat(b.get(0)).isEqualTo((byte) 5);
            }
        }
    }

    @Test
    void dataAndSizeSurviveReopenAfterResizeAndEviction() throws IOException {
        String p = prefix();
        byte[] model = new byte[40 * CHUNK + 123];
        ThreadLocalRandom r = ThreadLocalRandom.current();
        try (S3Device d = S3Device.create(options(client, p).build(), 20L * CHUNK)) {
            for (int i = 0; i < 200; i++) {
                int off = r.nextInt(20 * CHUNK - 5000);
                byte[] b = new byte[r.nextInt(1, 5000)];
                r.nextBytes(b);
                d.write(ByteBuffer.wrap(b), off);
                System.arraycopy(b, 0, model, off, b.length);
            }
            d.resize(model.length);
            d.write(ByteBuffer.wrap(new byte[] {42}), model.length - 1);
            model[model.length - 1] = 42;
        }
        try (S3Device d = S3Device.open(options(client, p).build())) {
            assertThat(d.size()).isEqualTo(model.length);
            ByteBuffer all = ByteBuffer.allocate(model.length);
            d.read(all, 0);
            assertThat(all.array()).isEqualTo(model);
            d.resize(5L * CHUNK + 10);
            d.sync();
            assertThat(chunkKeys(p)).allMatch(k -> Long.parseLong(k.substring(k.lastIndexOf('/') + 1), 16) <= 5);
            d.resize(10L * CHUNK);
            ByteBuffer tail = ByteBuffer.allocate(5 * CHUNK - 10);
            d.read(tail, 5L * CHUNK + 10);
            assertThat(tail.array()).containsOnly(0);
        }
    }
}

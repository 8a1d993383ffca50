package dev.volumes.s3;

import dev.volumes.device.Device;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The device conformance suite on {@link S3Device} against s3proxy, with 64 KiB chunks and a
 * 1 MiB cache (16 chunks) so eviction write-back runs constantly; reopen uses a fresh instance
 * with an empty cache.
 */
class S3DeviceConformanceIT extends DeviceConformanceTest {

    static S3ProxyPeer peer;
    static S3Client client;
    static final AtomicInteger counter = new AtomicInteger();
    final Map<Device, String> prefixes = new IdentityHashMap<>();

    @BeforeAll
    static void start() throws IOException {
        peer = S3ProxyPeer.start();
        client = S3Client.create(peer.config().build());
        client.createBucket("conformance");
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

    private S3DeviceOptions.Builder options(String prefix) {
        return S3DeviceOptions.builder(client, "conformance", prefix).chunkSize(64 << 10).cacheBytes(1 << 20)
                .uploadConcurrency(4).readAheadChunks(2);
    }

    @Override
    protected Device create(long size) throws IOException {
        String prefix = "dev" + counter.incrementAndGet() + "/";
        S3Device d = S3Device.create(options(prefix).build(), size);
        prefixes.put(d, prefix);
        return d;
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        String prefix = prefixes.get(closed);
        S3Device d = S3Device.open(options(prefix).build());
        prefixes.put(d, prefix);
        return d;
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        String prefix = "ro" + counter.incrementAndGet() + "/";
        try (S3Device w = S3Device.create(options(prefix).build(), content.length)) {
            w.write(ByteBuffer.wrap(content), 0);
        }
        return S3Device.open(options(prefix).readOnly(true).build());
    }
}

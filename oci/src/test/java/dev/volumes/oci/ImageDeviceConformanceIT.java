package dev.volumes.oci;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * The Device conformance suite's read-only half over {@link ImageDevice}: content frozen into a
 * real docker-registry (4 KiB chunks, so reads cross many chunks) and opened lazily.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImageDeviceConformanceIT extends DeviceConformanceTest {

    private Path tmp;
    private TestRegistry registry;
    private RegistryClient client;
    private final AtomicInteger counter = new AtomicInteger();

    @BeforeAll
    void startRegistry() throws IOException {
        tmp = Files.createTempDirectory("image-conformance");
        registry = TestRegistry.open(tmp.resolve("reg"));
        client = RegistryClient.builder(registry.uri()).useDockerConfig(false).build();
    }

    @AfterAll
    void stopRegistry() {
        if (registry != null) {
            registry.close();
        }
    }

    @Override
    protected Device create(long size) {
        throw new UnsupportedOperationException("an image is never writable");
    }

    @Override
    protected boolean writable() {
        return false;
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        MemoryDevice src = MemoryDevice.create(content.length);
        src.write(ByteBuffer.wrap(content), 0);
        ImageRef ref = new ImageRef("conformance/image", "c-" + counter.incrementAndGet());
        OciImages.freeze(src, client, ref, FreezeOptions.defaults().withChunkSize(4096).withParallelism(8));
        return ImageDevice.open(client, ref, ImageOptions.defaults().withCacheBytes(512 << 10));
    }
}

package dev.volumes.oci;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * The Device conformance suite over {@link Overlay}: each device is an empty image frozen into a
 * real docker-registry (64 KiB chunks) with an overlay on top; reopen resumes the spill directory.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverlayConformanceIT extends DeviceConformanceTest {

    private Path tmp;
    private TestRegistry registry;
    private RegistryClient client;
    private final AtomicInteger counter = new AtomicInteger();
    private final Map<Device, Path> dirs = new IdentityHashMap<>();

    @BeforeAll
    void startRegistry() throws IOException {
        tmp = Files.createTempDirectory("overlay-conformance");
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
    protected Device create(long size) throws IOException {
        int n = counter.incrementAndGet();
        ImageRef ref = new ImageRef("conformance/overlay", "empty-" + n);
        OciImages.freeze(MemoryDevice.create(size), client, ref, FreezeOptions.defaults().withChunkSize(64 << 10));
        Path dir = tmp.resolve("spill-" + n);
        Overlay o = Overlay.open(ImageDevice.open(client, ref, ImageOptions.defaults()), dir);
        dirs.put(o, dir);
        return o;
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        Path dir = dirs.get(closed);
        Overlay o = Overlay.resume(client, dir, ImageOptions.defaults());
        dirs.put(o, dir);
        return o;
    }
}

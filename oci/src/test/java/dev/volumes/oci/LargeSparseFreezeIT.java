package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 10 GiB logical device holding 64 MiB of data (16 chunks of 4 MiB, 8 distinct contents each
 * written twice) freezes into a handful of blobs; cost follows the data, not the logical size.
 * Prints blob count and times (measurements, not assertions).
 */
class LargeSparseFreezeIT {

    @TempDir
    Path tmp;

    @Test
    void tenGibLogicalWith64MibOfRepeatedDataFreezesIntoAHandfulOfBlobs() throws IOException {
        long size = 10L << 30;
        int cs = ImageFormat.DEFAULT_CHUNK;
        MemoryDevice dev = MemoryDevice.create("ten-gib", size);
        Random rnd = new Random(2026);
        byte[][] distinct = new byte[8][cs];
        for (byte[] d : distinct) {
            rnd.nextBytes(d);
        }
        long[] offsets = new long[16];
        for (int i = 0; i < 16; i++) {
            offsets[i] = (long) (i * 157 + 3) * cs; // spread over the first ~9.3 GiB, chunk aligned
            dev.write(ByteBuffer.wrap(distinct[i % 8]), offsets[i]);
        }
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            AtomicLong callbacks = new AtomicLong();
            long t0 = System.nanoTime();
            FreezeResult r = OciImages.freeze(dev, client, ImageRef.parse("big/sparse:v1"),
                    FreezeOptions.defaults().withProgress(p -> callbacks.incrementAndGet()));
            long freezeMs = (System.nanoTime() - t0) / 1_000_000;
            assertThat(r.config().chunkCount()).isEqualTo(2560);
            assertThat(r.dataChunks()).isEqualTo(16);
            assertThat(r.distinctBlobs()).isEqualTo(8);
            assertThat(r.blobsUploaded()).isEqualTo(8);
            assertThat(r.bytesUploaded()).isEqualTo(8L * cs);
            assertThat(callbacks.get()).isEqualTo(16); // one per data chunk: holes are never read
            t0 = System.nanoTime();
            FreezeResult again = OciImages.freeze(dev, client, ImageRef.parse("big/sparse:v2"), FreezeOptions.defaults());
            long refreezeMs = (System.nanoTime() - t0) / 1_000_000;
            assertThat(again.blobsUploaded()).isZero();

            t0 = System.nanoTime();
            try (ImageDevice img = ImageDevice.open(client, ImageRef.parse("big/sparse:v1"), ImageOptions.defaults())) {
                List<Extent> data = img.extents(0, size).stream().filter(e -> e.type() == Extent.Type.DATA).toList();
                assertThat(data).hasSize(16);
                ByteBuffer buf = ByteBuffer.allocate(cs);
                for (int i = 0; i < 16; i++) {
                    buf.clear();
                    img.read(buf, offsets[i]);
                    assertThat(buf.array()).isEqualTo(distinct[i % 8]);
                }
                assertThat(img.downloads()).isEqualTo(8);
            }
            long pullMs = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("MEASURED 10 GiB logical / 64 MiB data (4 MiB chunks): %d chunk windows, %d data, "
                    + "%d blobs + config + manifest; freeze %d ms, re-freeze (all present) %d ms, pull of the data %d ms%n",
                    r.config().chunkCount(), r.dataChunks(), r.distinctBlobs(), freezeMs, refreezeMs, pullMs);
        }
    }
}

package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.pool.VolumeInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole pool (volumes and snapshots) frozen into a registry opens read-only over an
 * {@link ImageDevice} and writable over an {@link Overlay}, whose commit is a new pool image.
 */
class PoolOverOciIT {

    @TempDir
    Path tmp;

    private static byte[] read(Device d, long offset, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        d.read(b, offset);
        return b.array();
    }

    @Test
    void frozenPoolOpensReadOnlyAndWritableThroughAnOverlayAndCommits() throws IOException {
        Random rnd = new Random(77);
        byte[] v1 = new byte[2_000_000]; // several 256 KiB chunks, so a small edit leaves most of them unchanged
        rnd.nextBytes(v1);
        byte[] v2 = new byte[5000];
        rnd.nextBytes(v2);
        MemoryDevice backing = MemoryDevice.create("golden-pool", 64L << 20);
        Pool pool = Pool.create(backing, PoolOptions.defaults());
        pool.createVolume("golden", 16L << 20);
        try (Device vol = pool.openVolume("golden")) {
            vol.write(ByteBuffer.wrap(v1), 1 << 20);
        }
        pool.snapshot("golden", "golden-snap");
        try (Device vol = pool.openVolume("golden")) {
            vol.write(ByteBuffer.wrap(v2), 1 << 20); // the live volume moves on; the snapshot keeps v1
        }
        pool.sync();

        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            FreezeResult frozen = OciImages.freeze(backing, client, ImageRef.parse("pools/golden:v1"),
                    FreezeOptions.defaults().withChunkSize(256 << 10));
            pool.close();
            System.out.printf("MEASURED pool image: 64 MiB pool device -> %d data chunks of %d, %d blobs%n",
                    frozen.dataChunks(), frozen.config().chunkCount(), frozen.distinctBlobs());
            assertThat(frozen.dataChunks()).isLessThan(frozen.config().chunkCount());

            // read-only: list volumes, read the live volume and the snapshot, refuse writes
            ImageDevice img = ImageDevice.open(client, ImageRef.parse("pools/golden:v1"), ImageOptions.defaults());
            Pool ro = Pool.open(img);
            assertThat(ro.list()).extracting(VolumeInfo::name).contains("golden", "golden-snap");
            try (Device live = ro.openVolume("golden"); Device snap = ro.openVolume("golden-snap")) {
                byte[] expectedLive = v1.clone();
                System.arraycopy(v2, 0, expectedLive, 0, v2.length);
                assertThat(read(live, 1 << 20, v1.length)).isEqualTo(expectedLive);
                assertThat(read(snap, 1 << 20, v1.length)).isEqualTo(v1);
                assertThatThrownBy(() -> live.write(ByteBuffer.wrap(new byte[4096]), 0))
                        .isInstanceOf(ReadOnlyDeviceException.class);
            }
            long pulled = img.downloads();
            assertThat(pulled).isLessThanOrEqualTo(frozen.distinctBlobs());
            ro.close(); // a pool on a read-only image is a read-only pool: close writes nothing, closes the image

            // writable: clone the golden snapshot in an overlay, write, commit a new pool image
            Overlay overlay = Overlay.open(ImageDevice.open(client, ImageRef.parse("pools/golden:v1"),
                    ImageOptions.defaults()), tmp.resolve("spill"));
            Pool rw = Pool.open(overlay);
            rw.clone("golden-snap", "work");
            byte[] edit = new byte[70_000];
            Arrays.fill(edit, (byte) 0x5A);
            try (Device work = rw.openVolume("work")) {
                work.write(ByteBuffer.wrap(edit), 1 << 20);
            }
            rw.sync();
            FreezeResult v2img = overlay.commit(ImageRef.parse("pools/golden:v2"), FreezeOptions.defaults());
            System.out.printf("MEASURED pool commit: %d changed chunks uploaded of %d data chunks%n",
                    v2img.blobsUploaded(), v2img.dataChunks());
            assertThat(v2img.blobsUploaded()).isLessThan(v2img.dataChunks());
            rw.close(); // syncs into the overlay (now based on v2) and closes it

            try (ImageDevice v2dev = ImageDevice.open(client, ImageRef.parse("pools/golden:v2"), ImageOptions.defaults())) {
                Pool again = Pool.open(v2dev); // closed with v2dev (a read-only pool never writes)
                assertThat(again.list()).extracting(VolumeInfo::name).contains("golden", "golden-snap", "work");
                try (Device work = again.openVolume("work"); Device snap = again.openVolume("golden-snap")) {
                    byte[] expectedWork = v1.clone();
                    System.arraycopy(edit, 0, expectedWork, 0, edit.length);
                    assertThat(read(work, 1 << 20, v1.length)).isEqualTo(expectedWork);
                    assertThat(read(snap, 1 << 20, v1.length)).isEqualTo(v1);
                }
                assertThat(again.check().problems()).isEmpty();
            }
        }
    }
}

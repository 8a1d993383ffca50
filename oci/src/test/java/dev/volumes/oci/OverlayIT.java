package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Overlay durability, commit of only the changed chunks, rebase, and commits to another repository. */
class OverlayIT {

    static final int CS = RegistryAuthIT.CS;

    @TempDir
    Path tmp;

    private static void write(dev.volumes.device.Device d, long offset, byte[] bytes) throws IOException {
        d.write(ByteBuffer.wrap(bytes), offset);
    }

    private static byte[] fill(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void overlaySurvivesRestartBeforeCommitThenCommitsOnlyChangedChunksAndRebases() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice model = RegistryAuthIT.sample(3);
            byte[] original = RegistryAuthIT.all(model);
            FreezeResult v1 = OciImages.freeze(model, client, ImageRef.parse("vols/ov:v1"), RegistryAuthIT.options());
            Path spill = tmp.resolve("spill");

            Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/ov:v1"), ImageOptions.defaults()), spill);
            write(o, 100, fill(50, 0x11));          // inside data chunk 0
            write(o, 3L * CS + 5, fill(10, 0x22));  // inside hole chunk 3
            write(o, 9L * CS - 7, fill(14, 0x33));  // straddles hole chunk 8 and data chunk 9
            write(model, 100, fill(50, 0x11));
            write(model, 3L * CS + 5, fill(10, 0x22));
            write(model, 9L * CS - 7, fill(14, 0x33));
            o.sync();
            write(o, 12L * CS, fill(10, 0x44));     // never synced: may be lost
            o.close();

            // "restart": a new client and a resumed overlay see every synced write
            RegistryClient client2 = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            Overlay again = Overlay.resume(client2, spill, ImageOptions.defaults());
            assertThat(again.dirtyChunks()).contains(0, 3, 8, 9);
            byte[] after = RegistryAuthIT.all(again);
            byte[] expected = RegistryAuthIT.all(model);
            Arrays.fill(after, 12 * CS, 12 * CS + 10, (byte) 0); // the unsynced write is allowed either way
            assertThat(after).isEqualTo(expected);
            again.writeZeroes(12L * CS, 10, false);
            again.sync();

            FreezeResult v2 = again.commit(ImageRef.parse("vols/ov:v2"), RegistryAuthIT.options());
            // chunks 0, 3, 8, 9 changed (12 was rewritten to zeros: a hole again); the rest reused
            assertThat(v2.blobsUploaded()).isEqualTo(4);
            assertThat(v2.config().chunks().get(12)).isNull();
            assertThat(v2.config().chunks().get(1)).isEqualTo(v1.config().chunks().get(1));
            assertThat(again.dirtyChunks()).isEmpty();
            assertThat(again.base().ref()).isEqualTo(v2.ref());
            assertThat(RegistryAuthIT.all(again)).isEqualTo(expected);

            // a second commit with nothing changed uploads nothing
            FreezeResult v3 = again.commit(ImageRef.parse("vols/ov:v3"), RegistryAuthIT.options());
            assertThat(v3.blobsUploaded()).isZero();
            assertThat(v3.config()).isEqualTo(v2.config()); // same chunks; only the source annotation differs
            // after the rebase, only the next change is pushed
            write(again, 2L * CS, fill(CS, 0x55));
            write(model, 2L * CS, fill(CS, 0x55));
            FreezeResult v4 = again.commit(ImageRef.parse("vols/ov:v4"), RegistryAuthIT.options());
            assertThat(v4.blobsUploaded()).isEqualTo(1);
            again.close();

            try (ImageDevice img1 = ImageDevice.open(client, ImageRef.parse("vols/ov:v1"), ImageOptions.defaults());
                    ImageDevice img4 = ImageDevice.open(client, ImageRef.parse("vols/ov:v4"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(img1)).isEqualTo(original);
                assertThat(RegistryAuthIT.all(img4)).isEqualTo(RegistryAuthIT.all(model));
                List<Extent> ex = img4.extents(0, img4.size());
                assertThat(ex.getFirst()).isEqualTo(new Extent(0, 4L * CS, Extent.Type.DATA));
            }
        }
    }

    @Test
    void commitToAnotherRepositoryMountsReusedBlobsAndAnotherRegistryCopiesThem() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"));
                TestRegistry other = TestRegistry.open(tmp.resolve("other"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice model = RegistryAuthIT.sample(5);
            OciImages.freeze(model, client, ImageRef.parse("vols/src:v1"), RegistryAuthIT.options());
            Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/src:v1"), ImageOptions.defaults()),
                    tmp.resolve("spill"));
            write(o, 0, fill(10, 0x66));
            write(model, 0, fill(10, 0x66));
            FreezeResult r = o.commit(ImageRef.parse("team/fork:v1"), RegistryAuthIT.options());
            assertThat(r.blobsUploaded()).isEqualTo(1);  // only the changed chunk
            assertThat(r.blobsSkipped()).isEqualTo(3);   // the three reused blobs were mounted
            try (ImageDevice fork = ImageDevice.open(client, ImageRef.parse("team/fork:v1"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(fork)).isEqualTo(RegistryAuthIT.all(model));
            }
            // the overlay now sits on team/fork; commit into a different registry copies blobs over
            RegistryClient far = RegistryClient.builder(other.uri()).useDockerConfig(false).build();
            write(o, 5L * CS, fill(3, 0x77));
            write(model, 5L * CS, fill(3, 0x77));
            FreezeResult copied = o.commit(far, ImageRef.parse("mirror/vol:v1"), RegistryAuthIT.options());
            assertThat(copied.blobsUploaded()).isEqualTo(1);
            for (Descriptor layer : ImageFormat.layers(copied.config())) {
                assertThat(far.blobSize("mirror/vol", layer.digest())).contains(layer.size());
            }
            try (ImageDevice img = ImageDevice.open(far, ImageRef.parse("mirror/vol:v1"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(img)).isEqualTo(RegistryAuthIT.all(model));
            }
            assertThat(RegistryAuthIT.all(o)).isEqualTo(RegistryAuthIT.all(model));
            o.close();
        }
    }

    @Test
    void zeroingEverythingPullsNothingAndCommitsAnEmptyImage() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            OciImages.freeze(RegistryAuthIT.sample(8), client, ImageRef.parse("vols/z:v1"), RegistryAuthIT.options());
            try (Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/z:v1"), ImageOptions.defaults()),
                    tmp.resolve("spill"))) {
                ImageDevice before = o.base();
                o.writeZeroes(0, o.size(), true);
                assertThat(before.downloads()).isZero(); // whole chunks are zeroed without pulling them
                assertThat(RegistryAuthIT.all(o)).isEqualTo(new byte[(int) o.size()]);
                FreezeResult r = o.commit(ImageRef.parse("vols/z:v2"), RegistryAuthIT.options());
                assertThat(r.dataChunks()).isZero();
                assertThat(r.blobsUploaded()).isZero();
                assertThat(new String(client.getManifest(ImageRef.parse("vols/z:v2")).body(),
                        java.nio.charset.StandardCharsets.UTF_8)).contains("\"layers\":[]");
            }
        }
    }

    @Test
    void commitsWhileWritersRunLoseNoWrite() throws Exception {
        String test = "OverlayIT.commitsWhileWritersRunLoseNoWrite";
        long seed = dev.volumes.testkit.Seeds.forTest(test);
        int slot = 4096;
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            MemoryDevice model = RegistryAuthIT.sample(21);
            OciImages.freeze(model, client, ImageRef.parse("vols/busy:v0"), RegistryAuthIT.options());
            int slots = (int) (model.size() / slot);
            try (Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/busy:v0"), ImageOptions.defaults()),
                    tmp.resolve("spill"))) {
                java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                java.util.List<Thread> writers = new java.util.ArrayList<>();
                java.util.List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
                int threads = 4;
                for (int w = 0; w < threads; w++) {
                    int me = w;
                    writers.add(Thread.ofVirtual().start(() -> {
                        java.util.Random rnd = new java.util.Random(seed + me);
                        byte[] b = new byte[slot];
                        int version = 0;
                        try {
                            while (!stop.get()) {
                                int s0 = rnd.nextInt(slots / threads) * threads + me; // slots of this writer only
                                version++;
                                Arrays.fill(b, (byte) (version * 7 + me));
                                b[0] = (byte) me;
                                o.write(ByteBuffer.wrap(b), (long) s0 * slot);
                                model.write(ByteBuffer.wrap(b), (long) s0 * slot); // disjoint slots: no race
                                if (version % 50 == 0) {
                                    Thread.sleep(1);
                                }
                            }
                        } catch (Throwable t) {
                            errors.add(t);
                        }
                    }));
                }
                for (int c = 1; c <= 3; c++) {
                    Thread.sleep(100);
                    o.commit(ImageRef.parse("vols/busy:v" + c), RegistryAuthIT.options());
                }
                stop.set(true);
                for (Thread t : writers) {
                    t.join();
                }
                assertThat(errors).isEmpty();
                assertThat(RegistryAuthIT.all(o)).as("overlay after concurrent commits; seed " + seed)
                        .isEqualTo(RegistryAuthIT.all(model));
                o.commit(ImageRef.parse("vols/busy:final"), RegistryAuthIT.options());
                assertThat(o.dirtyChunks()).isEmpty();
            }
            try (ImageDevice last = ImageDevice.open(client, ImageRef.parse("vols/busy:final"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(last)).as("final image; reproduce with "
                        + dev.volumes.testkit.Seeds.reproduceWith(test)).isEqualTo(RegistryAuthIT.all(model));
            }
        }
    }

    @Test
    void overlayOfAnotherImageIsRefused() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            OciImages.freeze(RegistryAuthIT.sample(1), client, ImageRef.parse("vols/a:v1"), RegistryAuthIT.options());
            OciImages.freeze(RegistryAuthIT.sample(2), client, ImageRef.parse("vols/b:v1"), RegistryAuthIT.options());
            Path spill = tmp.resolve("spill");
            Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/a:v1"), ImageOptions.defaults()), spill).close();
            assertThatThrownBy(() -> Overlay.open(ImageDevice.open(client, ImageRef.parse("vols/b:v1"),
                    ImageOptions.defaults()), spill)).isInstanceOf(IOException.class).hasMessageContaining("belongs to");
        }
    }
}

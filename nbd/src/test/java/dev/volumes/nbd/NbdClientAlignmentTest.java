package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A server whose export has a 4 KiB minimum block size (our server answers unaligned requests
 * with EINVAL): the client widens reads and does read-modify-write for unaligned writes and
 * zeroes, and concurrent unaligned writers inside the same blocks do not clobber each other.
 */
class NbdClientAlignmentTest {

    private static final int SIZE = 1 << 20;
    private static final BlockSizes FOUR_K = new BlockSizes(4096, 4096, 64 * 1024);

    private static Device aligned(Device d) {
        return new ForwardingDevice(d) {
            @Override
            public BlockSizes blockSizes() {
                return FOUR_K;
            }
        };
    }

    @Test
    void unalignedRandomWorkloadMatchesAByteModel() throws Exception {
        String test = "dev.volumes.nbd.NbdClientAlignmentTest#unalignedRandomWorkloadMatchesAByteModel";
        Random rnd = Seeds.random(test);
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", aligned(MemoryDevice.create("disk", SIZE)), "");
            server.start();
            try (NbdDevice d = NbdClient.builder().port(server.address().getPort()).exportName("disk").open()) {
                assertThat(d.blockSizes()).isEqualTo(FOUR_K);
                byte[] model = new byte[SIZE];
                for (int i = 0; i < Seeds.scaled(300); i++) {
                    int off = rnd.nextInt(SIZE - 1);
                    int len = 1 + rnd.nextInt(Math.min(SIZE - off, 200_000));
                    switch (rnd.nextInt(3)) {
                        case 0 -> {
                            byte[] b = new byte[len];
                            rnd.nextBytes(b);
                            d.write(ByteBuffer.wrap(b), off);
                            System.arraycopy(b, 0, model, off, len);
                        }
                        case 1 -> {
                            d.writeZeroes(off, len, rnd.nextBoolean());
                            java.util.Arrays.fill(model, off, off + len, (byte) 0);
                        }
                        default -> {
                            ByteBuffer b = ByteBuffer.allocate(len);
                            d.read(b, off);
                            assertThat(java.util.Arrays.equals(b.array(), 0, len, model, off, off + len))
                                    .as("read %d at %d; %s", len, off, Seeds.reproduceWith(test)).isTrue();
                        }
                    }
                }
                ByteBuffer all = ByteBuffer.allocate(SIZE);
                d.read(all, 0);
                assertThat(all.array()).as(Seeds.reproduceWith(test)).isEqualTo(model);
            }
        }
    }

    @Test
    void concurrentUnalignedWritersInTheSameBlocksKeepEachOthersBytes() throws Exception {
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", aligned(MemoryDevice.create("disk", SIZE)), "");
            server.start();
            try (NbdDevice d = NbdClient.builder().port(server.address().getPort()).exportName("disk").connections(2)
                    .open()) {
                int writers = 8;
                List<Thread> threads = new ArrayList<>();
                List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
                for (int w = 0; w < writers; w++) {
                    int id = w;
                    threads.add(Thread.ofVirtual().start(() -> {
                        try {
                            // Writer w owns bytes [w*512, w*512+512) of every 4 KiB block.
                            for (int block = 0; block < 64; block++) {
                                byte[] b = new byte[512];
                                java.util.Arrays.fill(b, (byte) (id + 1));
                                d.write(ByteBuffer.wrap(b), block * 4096L + id * 512L);
                            }
                        } catch (Throwable t) {
                            failures.add(t);
                        }
                    }));
                }
                for (Thread t : threads) {
                    t.join();
                }
                assertThat(failures).isEmpty();
                ByteBuffer all = ByteBuffer.allocate(64 * 4096);
                d.read(all, 0);
                for (int i = 0; i < all.capacity(); i++) {
                    assertThat(all.get(i)).as("byte %d", i).isEqualTo((byte) ((i % 4096) / 512 + 1));
                }
            }
        }
    }
}

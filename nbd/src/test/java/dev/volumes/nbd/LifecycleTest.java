package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Connection limits, handshake timeout, DISC and shutdown draining, hot export changes, backpressure. */
class LifecycleTest {

    /** Writes block until {@link #open} is released; counts syncs after writes. */
    static final class GatedDevice extends ForwardingDevice {
        final CountDownLatch open = new CountDownLatch(1);
        final AtomicInteger entered = new AtomicInteger();
        final AtomicInteger syncsAfterWrites = new AtomicInteger();
        final AtomicInteger writesDone = new AtomicInteger();

        GatedDevice(Device d) {
            super(d);
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            entered.incrementAndGet();
            try {
                open.await();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            super.write(src, offset);
            writesDone.incrementAndGet();
        }

        @Override
        public void write(ByteBuffer src, long offset, dev.volumes.device.WriteFlag flag) throws IOException {
            write(src, offset);
        }

        @Override
        public void sync() throws IOException {
            super.sync();
            if (writesDone.get() > 0) {
                syncsAfterWrites.incrementAndGet();
            }
        }
    }

    private static NbdServer.Builder local() {
        return NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0));
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 1000 && !condition.getAsBoolean(); i++) {
            Thread.sleep(10);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAtOnce() throws Exception {
        try (NbdServer server = local().maxConnections(2).build()) {
            server.addExport("d", MemoryDevice.create(4096), null);
            server.start();
            try (RawClient a = new RawClient(server.address()); RawClient b = new RawClient(server.address())) {
                a.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                b.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                try (RawClient c = new RawClient(server.address())) {
                    assertThat(c.closedByServer()).isTrue();
                }
                assertThat(server.stats().refusedConnections()).isEqualTo(1);
                assertThat(a.go("d")).isNotZero();
            }
        }
    }

    @Test
    void silentClientIsClosedAfterTheHandshakeTimeout() throws Exception {
        try (NbdServer server = local().handshakeTimeout(Duration.ofMillis(200)).build()) {
            server.addExport("d", MemoryDevice.create(4096), null);
            server.start();
            try (RawClient c = new RawClient(server.address())) {
                c.read(18);
                assertThat(c.closedByServer()).isTrue();
            }
            assertThat(server.stats().handshakeTimeouts()).isEqualTo(1);
            // A client that finished its handshake is not affected by the timer.
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d");
                Thread.sleep(400);
                c.request(0, Wire.CMD_FLUSH, 1, 0, 0, null);
                assertThat(c.simple()).containsExactly(0, 1);
            }
        }
    }

    @Test
    void discWaitsForInFlightWritesThenSyncsAndCloses() throws Exception {
        GatedDevice device = new GatedDevice(MemoryDevice.create(1 << 20));
        try (NbdServer server = local().build()) {
            server.addExport("d", device, null);
            server.start();
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d");
                c.request(0, Wire.CMD_WRITE, 1, 0, 4, new byte[] {1, 2, 3, 4});
                await(() -> device.entered.get() == 1);
                c.request(0, Wire.CMD_DISC, 2, 0, 0, null);
                device.open.countDown();
                assertThat(c.simple()).containsExactly(0, 1);
                assertThat(c.closedByServer()).isTrue();
            }
            assertThat(device.syncsAfterWrites.get()).isPositive();
        }
    }

    @Test
    void discOfAConnectionThatWroteNothingDoesNotSync() throws Exception {
        AtomicInteger syncs = new AtomicInteger();
        Device device = new ForwardingDevice(MemoryDevice.create(1 << 20)) {
            @Override
            public void sync() throws IOException {
                syncs.incrementAndGet();
                super.sync();
            }
        };
        try (NbdServer server = local().build()) {
            server.addExport("d", device, null);
            server.start();
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d");
                c.request(0, Wire.CMD_READ, 1, 0, 4, null);
                assertThat(c.simple()).containsExactly(0, 1);
                c.read(4);
                c.request(0, Wire.CMD_DISC, 2, 0, 0, null);
                assertThat(c.closedByServer()).isTrue();
            }
            await(() -> server.stats().connections() == 0);
            assertThat(syncs.get()).as("a reader's disconnect syncs nothing (a follower's gate would refuse it)").isZero();
        }
    }

    @Test
    void closeDrainsInFlightRequestsAndSyncsExports() throws Exception {
        GatedDevice device = new GatedDevice(MemoryDevice.create(1 << 20));
        NbdServer server = local().build();
        server.addExport("d", device, null);
        server.start();
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.go("d");
            c.request(0, Wire.CMD_WRITE, 1, 0, 4, new byte[] {1, 2, 3, 4});
            await(() -> device.entered.get() == 1);
            CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> {
                try {
                    server.close();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            // New connections are refused once shutdown began.
            await(() -> {
                try (RawClient late = new RawClient(server.address())) {
                    return late.closedByServer();
                } catch (IOException e) {
                    return true;
                }
            });
            assertThat(closing).isNotDone();
            device.open.countDown();
            assertThat(c.simple()).containsExactly(0, 1);
            assertThat(c.closedByServer()).isTrue();
            closing.get(30, TimeUnit.SECONDS);
        }
        assertThat(device.syncsAfterWrites.get()).isPositive();
        assertThat(server.stats().connections()).isZero();
        ByteBuffer b = ByteBuffer.allocate(4);
        device.read(b, 0);
        assertThat(b.array()).containsExactly(1, 2, 3, 4);
    }

    @Test
    void closeAbortsAClientThatStopsReadingItsRepliesAfterTheDrainTimeout() throws Exception {
        MemoryDevice device = MemoryDevice.create(64 << 20);
        NbdServer server = local().drainTimeout(Duration.ofMillis(300)).build();
        server.addExport("d", device, null);
        server.start();
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.go("d");
            c.request(0, Wire.CMD_WRITE, 1, 0, 4, new byte[] {1, 2, 3, 4});
            assertThat(c.simple()).containsExactly(0, 1);
            // 32 MiB reads whose replies are never read: the workers block sending them.
            for (int i = 0; i < 4; i++) {
                c.request(0, Wire.CMD_READ, 10 + i, 0, 32 << 20, null);
            }
            await(() -> server.stats().exports().get("d").reads() >= 1);
            CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> {
                try {
                    server.close();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            // Without the drain deadline this would wait forever for the client to read.
            closing.get(60, TimeUnit.SECONDS);
        }
        assertThat(server.stats().connections()).isZero();
        ByteBuffer b = ByteBuffer.allocate(4);
        device.read(b, 0);
        assertThat(b.array()).as("the acknowledged write survived the forced close").containsExactly(1, 2, 3, 4);
    }

    @Test
    void aClientThatStopsReadingIsClosedAfterTheSendTimeoutAndOthersGetTheBudgetBack() throws Exception {
        MemoryDevice device = MemoryDevice.create(64 << 20);
        try (NbdServer server = local().sendTimeout(Duration.ofMillis(300)).inFlightBytes(32 << 20, 32 << 20)
                .build()) {
            server.addExport("d", device, null);
            server.start();
            try (RawClient stuck = new RawClient(server.address())) {
                stuck.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                stuck.go("d");
                // Replies never read: the first 32 MiB reply blocks in its send holding the whole
                // server budget; without the send timeout every other client would wait forever.
                for (int i = 0; i < 3; i++) {
                    stuck.request(0, Wire.CMD_READ, 10 + i, 0, 32 << 20, null);
                }
                await(() -> server.stats().exports().get("d").reads() >= 1);
                try (RawClient other = new RawClient(server.address())) {
                    other.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                    other.go("d");
                    other.request(0, Wire.CMD_READ, 99, 4096, 4096, null);
                    assertThat(other.simple()).containsExactly(0, 99);
                    assertThat(other.read(4096).remaining()).isEqualTo(4096);
                }
                // The stuck client still has its socket open: only the server can have dropped it.
                await(() -> server.stats().connections() == 0);
            }
        }
    }

    @Test
    void exportsCanBeAddedAndRemovedWhileRunning() throws Exception {
        try (NbdServer server = local().build()) {
            server.start();
            server.addExport("late", MemoryDevice.create(8192), "added after start");
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("late");
                c.request(0, Wire.CMD_READ, 1, 0, 512, null);
                assertThat(c.simple()).containsExactly(0, 1);
                c.read(512);
                assertThat(server.removeExport("late")).isTrue();
                assertThat(c.closedByServer()).isTrue();
            }
            assertThat(server.removeExport("late")).isFalse();
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.option(Wire.OPT_GO, RawClient.infoData("late"));
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_UNKNOWN);
            }
        }
    }

    @Test
    void replacingAnExportDrainsTheOldDevicesConnectionsBeforeAddExportReturns() throws Exception {
        GatedDevice old = new GatedDevice(MemoryDevice.create(1 << 20));
        MemoryDevice fresh = MemoryDevice.create(1 << 20);
        try (NbdServer server = local().build()) {
            server.addExport("d", old, "old");
            server.start();
            try (RawClient c = new RawClient(server.address()); RawClient n = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d");
                c.request(0, Wire.CMD_WRITE, 1, 0, 4, new byte[] {1, 2, 3, 4});
                await(() -> old.entered.get() == 1);
                CompletableFuture<Void> replacing = CompletableFuture.runAsync(() -> server.addExport("d", fresh, "new"));
                await(() -> server.export("d").device() == fresh);
                // New clients get the new device at once, while the old one's connection drains.
                n.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                n.go("d");
                n.request(Wire.CMD_FLAG_FUA, Wire.CMD_WRITE, 1, 0, 1, new byte[] {5});
                assertThat(n.simple()).containsExactly(0, 1);
                ByteBuffer b = ByteBuffer.allocate(1);
                fresh.read(b, 0);
                assertThat(b.get(0)).isEqualTo((byte) 5);
                // The old connection still has a write in the old device: the replacement waits for it.
                assertThat(replacing).isNotDone();
                old.open.countDown();
                assertThat(c.simple()).containsExactly(0, 1);
                assertThat(c.closedByServer()).isTrue();
                replacing.get(30, TimeUnit.SECONDS);
                assertThat(old.syncsAfterWrites.get()).as("the old device was synced").isPositive();
                // Only the new export's connection is left, and removeExport drains exactly that one.
                assertThat(server.stats().perConnection()).hasSize(1);
                assertThat(server.removeExport("d")).isTrue();
                assertThat(n.closedByServer()).isTrue();
            } finally {
                old.open.countDown();
            }
            await(() -> server.stats().connections() == 0);
        }
        ByteBuffer b = ByteBuffer.allocate(4);
        old.read(b, 0);
        assertThat(b.array()).containsExactly(1, 2, 3, 4);
    }

    @Test
    void inFlightBytesStayWithinTheBudgetWhenTheDeviceIsSlow() throws Exception {
        GatedDevice device = new GatedDevice(MemoryDevice.create(256 << 20));
        int budget = 32 << 20;
        try (NbdServer server = local().inFlightBytes(budget, budget).build()) {
            server.addExport("d", device, null);
            server.start();
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d");
                int n = 96;
                byte[] mib = new byte[1 << 20];
                CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                    try {
                        for (int i = 0; i < n; i++) {
                            c.request(0, Wire.CMD_WRITE, i, (long) i << 20, mib.length, mib);
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                await(() -> device.entered.get() == 32);
                Thread.sleep(200); // give the reader a chance to overrun the budget if it could
                assertThat(device.entered.get()).isEqualTo(32);
                assertThat(server.stats().inFlightBytes()).isLessThanOrEqualTo(budget);
                assertThat(sender).isNotDone(); // the client is pushed back by TCP
                device.open.countDown();
                for (int i = 0; i < n; i++) {
                    assertThat(c.simple()[0]).isZero();
                }
                sender.get(30, TimeUnit.SECONDS);
            }
            assertThat(server.stats().exports().get("d").bytesWritten()).isEqualTo(96L << 20);
        }
    }
}

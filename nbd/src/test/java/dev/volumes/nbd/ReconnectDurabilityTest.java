package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.CrashReport;
import dev.volumes.testkit.CrashSimulator;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client's replay journal against a server that really loses unflushed writes: our server
 * exports a {@link CrashSimulator} (the disk model: writes since the last sync may be lost or
 * torn, FUA writes survive), the test "kills" the server by crashing the simulator and closing
 * the server, then starts a new server on the same port over the crashed disk. The client's next
 * {@code sync()} reconnects, replays the journal and flushes: every acknowledged write is back,
 * and a second crash right after shows it is durable. With an overflowed journal the same drop
 * fails the device stop, as without a journal.
 */
@Timeout(300) // a hang guard, not a timing claim
class ReconnectDurabilityTest {

    private static final int SIZE = 4 << 20;

    private final MemoryDevice disk = MemoryDevice.create("disk", SIZE); // outlives every crash
    private CrashSimulator sim;
    private NbdServer server;
    private int port;

    /** Starts a server (on the same port after the first) over a new simulator on the disk. */
    private void startServer(long seed, CrashSimulator.Options options) throws IOException {
        sim = CrashSimulator.wrap(disk, seed, options);
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", port)).build();
        server.addExport("disk", sim, null);
        server.start();
        port = server.address().getPort();
    }

    /** Power cut, then the server goes away (its syncs hit the dead simulator and do nothing). */
    private CrashReport crashServer() throws IOException {
        CrashReport report = sim.crash();
        server.close();
        return report;
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
    }

    private NbdClient.Builder client() {
        return NbdClient.builder().host("127.0.0.1").port(port).exportName("disk").connections(2)
                .reconnectDeadline(Duration.ofSeconds(60));
    }

    @Test
    void acknowledgedUnflushedWritesLostByARestartedServerComeBackAndAreDurableAfterTheNextSync() throws Exception {
        String test = "dev.volumes.nbd.ReconnectDurabilityTest#acknowledgedUnflushedWritesLostByARestartedServerComeBackAndAreDurableAfterTheNextSync";
        long seed = Seeds.forTest(test);
        String reproduce = Seeds.reproduceWith(test);
        Random random = new Random(seed);
        CrashSimulator.Options lossy = CrashSimulator.Options.DEFAULT.withKeepProbability(0.3);
        startServer(seed, lossy);
        byte[] model = new byte[SIZE];
        BitSet unknown = new BitSet(SIZE); // discarded bytes: unspecified until written again
        int serverLostSomething = 0;
        try (NbdDevice d = client().open()) {
            assertThat(d.connectionCount()).isEqualTo(2);
            int cycles = Seeds.scaled(8);
            for (int cycle = 0; cycle < cycles; cycle++) {
                for (int op = 0; op < 40; op++) {
                    int off = random.nextInt(SIZE - 1);
                    int len = 1 + random.nextInt(Math.min(SIZE - off, 96 * 1024));
                    int kind = random.nextInt(20);
                    if (kind < 12) { // plain write: acknowledged, unflushed
                        byte[] b = new byte[len];
                        random.nextBytes(b);
                        d.write(ByteBuffer.wrap(b), off, kind == 0 ? WriteFlag.FUA : WriteFlag.NONE);
                        System.arraycopy(b, 0, model, off, len);
                        unknown.clear(off, off + len);
                    } else if (kind < 15) {
                        d.writeZeroes(off, len, random.nextBoolean());
                        java.util.Arrays.fill(model, off, off + len, (byte) 0);
                        unknown.clear(off, off + len);
                    } else if (kind < 17) {
                        d.discard(off, len);
                        unknown.set(off, off + len); // TRIM'd content is unspecified
                    } else if (kind < 18) {
                        d.sync();
                    } else { // overwrite the same range (journal entries coalesce)
                        int at = (off / 4096) * 4096;
                        byte[] b = new byte[4096];
                        for (int k = 0; k < 3; k++) {
                            random.nextBytes(b);
                            d.write(ByteBuffer.wrap(b), at);
                        }
                        System.arraycopy(b, 0, model, at, 4096);
                        unknown.clear(at, at + 4096);
                    }
                }
                String where = reproduce + ", cycle " + cycle;
                CrashReport report = crashServer();
                if (differs(diskImage(), model, unknown) >= 0) {
                    serverLostSomething++;
                }
                startServer(seed + 1000 + cycle, lossy);
                d.sync(); // reconnect, replay the journal (if anything was unflushed), flush
                int bad = differs(read(d), model, unknown);
                assertThat(bad).as(where + ", " + report + ": first wrong byte after the replay").isNegative();
                // The replayed data is durable now: a crash right after the sync keeps all of it.
                crashServer();
                assertThat(differs(diskImage(), model, unknown)).as(where + ": first wrong byte after a second crash")
                        .isNegative();
                startServer(seed + 2000 + cycle, lossy);
            }
            assertThat(serverLostSomething).as(reproduce + ": the crashes really lost acknowledged writes").isPositive();
            assertThat(d.replays()).as(reproduce).isPositive();
            System.out.println("reconnect durability: replays=" + d.replays() + " replayed=" + d.replayedRequests()
                    + " reconnects=" + d.reconnects() + " cycles with losses=" + serverLostSomething);
        }
    }

    @Test
    void anOverflowedJournalFailsStopAfterTheDropAndAFlushEndsTheOverflow() throws Exception {
        CrashSimulator.Options loseAll = CrashSimulator.Options.DEFAULT.withKeepProbability(0);
        startServer(1, loseAll);
        long cap = 64 * 1024;
        try (NbdDevice d = client().replayJournal(cap).open()) {
            // Within the cap: repaired.
            d.write(ByteBuffer.wrap(fill(16 * 1024, 1)), 0);
            crashServer();
            startServer(2, loseAll);
            d.sync();
            assertThat(readAt(d, 0, 16 * 1024)).containsOnly(1);
            // Over the cap, then a flush: the overflow ends, the journal works again.
            d.write(ByteBuffer.wrap(fill(128 * 1024, 2)), 0);
            assertThat(d.journal().lostSince()).isTrue();
            d.sync();
            assertThat(d.journal().lostSince()).isFalse();
            d.write(ByteBuffer.wrap(fill(4096, 3)), 1 << 20);
            crashServer();
            startServer(3, loseAll);
            d.sync();
            assertThat(readAt(d, 1 << 20, 4096)).containsOnly(3);
            // Over the cap and no flush before the drop: the device fails stop for writes.
            d.write(ByteBuffer.wrap(fill(128 * 1024, 4)), 2 << 20);
            crashServer();
            startServer(4, loseAll);
            assertThat(readAt(d, 2 << 20, 4096)).as("lost by the server, not replayed").containsOnly(0);
            assertThatThrownBy(d::sync).isInstanceOf(IOException.class).hasMessageContaining("durability is unknown")
                    .hasMessageContaining("overflowed its " + cap + " bytes");
            assertThatThrownBy(() -> d.write(ByteBuffer.allocate(1), 0)).hasMessageContaining("reopened");
        }
        try (NbdDevice again = client().open()) { // reopening is how to go on
            again.write(ByteBuffer.wrap(fill(512, 5)), 0);
            again.sync();
        }
    }

    /**
     * An overflow empties the journal, including writes another connection acknowledged: a drop
     * of that other connection must fail stop too (they are no longer held for replay), even
     * though it acknowledged nothing unjournaled itself.
     */
    @Test
    void anOverflowCausedOnOneConnectionFailsStopWhenAnotherConnectionDrops() throws Exception {
        startServer(1, CrashSimulator.Options.DEFAULT);
        try (NbdDevice d = client().replayJournal(64 * 1024).open()) {
            d.write(ByteBuffer.wrap(fill(4096, 1)), 0); // slot 0: journaled
            d.write(ByteBuffer.wrap(fill(128 * 1024, 2)), 1 << 20); // slot 1: overflow empties the journal
            d.dropConnectionForTest(0);
            assertThatThrownBy(d::sync).hasMessageContaining("durability is unknown");
        }
    }

    @Test
    void withoutAJournalAnUnflushedDropFailsStopAsBefore() throws Exception {
        startServer(1, CrashSimulator.Options.DEFAULT.withKeepProbability(0));
        try (NbdDevice d = client().replayJournal(0).open()) {
            d.write(ByteBuffer.wrap(fill(4096, 7)), 0, WriteFlag.FUA);
            crashServer();
            startServer(2, CrashSimulator.Options.DEFAULT);
            d.sync(); // only FUA writes: nothing was unflushed, the drop is invisible
            d.write(ByteBuffer.wrap(fill(4096, 8)), 4096);
            crashServer();
            startServer(3, CrashSimulator.Options.DEFAULT);
            assertThat(readAt(d, 0, 4096)).containsOnly(7);
            assertThatThrownBy(d::sync).hasMessageContaining("durability is unknown").hasMessageContaining("disabled");
        }
    }

    /** Holds the first write to {@link #X} once armed; a second write there waits until the first landed. */
    static final class OrderingDevice extends dev.volumes.device.ForwardingDevice {
        static final long X = 1 << 20;
        volatile boolean armed;
        final java.util.concurrent.atomic.AtomicInteger writesToX = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.CountDownLatch firstHeld = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch releaseFirst = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch firstLanded = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch secondArrived = new java.util.concurrent.CountDownLatch(1);

        OrderingDevice(dev.volumes.device.Device d) {
            super(d);
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            write(src, offset, WriteFlag.NONE);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            int n = armed && offset == X ? writesToX.incrementAndGet() : 0;
            try {
                if (n == 1) {
                    firstHeld.countDown();
                    releaseFirst.await();
                } else if (n == 2) {
                    secondArrived.countDown();
                    firstLanded.await();
                }
            } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
            }
            super.write(src, offset, flag);
            if (n == 1) {
                firstLanded.countDown();
            }
        }
    }

    /**
     * Connection 1 drops while connection 0 has a newer write to the same range in flight. The
     * replay on the new connection must wait for it (gate closed, other connections quiet) and
     * then re-send the newer content; re-sending the older journal content after the newer write
     * landed would silently undo an acknowledged write.
     */
    @Test
    void aReplayWaitsForNewerWritesInFlightOnOtherConnections() throws Exception {
        OrderingDevice device = new OrderingDevice(MemoryDevice.create("disk", SIZE));
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("disk", device, null);
        server.start();
        port = server.address().getPort();
        try (NbdDevice d = client().open()) {
            d.write(ByteBuffer.wrap(fill(4096, 1)), OrderingDevice.X); // slot 0: acknowledged, journaled
            readAt(d, 0, 512); // slot 1
            d.dropConnectionForTest(1);
            device.armed = true;
            Thread newer = Thread.ofVirtual().start(() -> { // slot 0, held in the device
                try {
                    d.write(ByteBuffer.wrap(fill(4096, 2)), OrderingDevice.X);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertThat(device.firstHeld.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            Thread watcher = Thread.ofVirtual().start(() -> {
                // Correct: the replay closes the gate and waits for the held write. Broken: the
                // replay's older write arrives first; then the held write lands before it.
                try {
                    while (!d.replaying() && device.secondArrived.getCount() > 0) {
                        Thread.sleep(1);
                    }
                } catch (InterruptedException e) {
                    return;
                }
                device.releaseFirst.countDown();
            });
            readAt(d, 0, 512); // slot 1: reconnects and replays
            newer.join();
            watcher.join();
            d.sync();
            assertThat(readAt(d, OrderingDevice.X, 4096)).as("the newer acknowledged write").containsOnly(2);
            assertThat(d.replays()).isEqualTo(1);
        } finally {
            device.releaseFirst.countDown();
        }
    }

    private static byte[] fill(int length, int value) {
        byte[] b = new byte[length];
        java.util.Arrays.fill(b, (byte) value);
        return b;
    }

    private static byte[] readAt(NbdDevice d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }

    private static byte[] read(NbdDevice d) throws IOException {
        return readAt(d, 0, SIZE);
    }

    private byte[] diskImage() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(SIZE);
        disk.read(b, 0);
        return b.array();
    }

    /** The first byte that differs from the model outside unspecified ranges, or -1. */
    private static int differs(byte[] image, byte[] model, BitSet unknown) {
        for (int i = 0; i < image.length; i++) {
            if (image[i] != model[i] && !unknown.get(i)) {
                return i;
            }
        }
        return -1;
    }
}

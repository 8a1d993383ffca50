package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Capability;
import dev.volumes.device.Extent;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against nbdkit variants: fallbacks (no structured replies, masked handshake), the
 * error and delay filters, and a server killed and restarted mid-workload.
 */
class NbdClientPeersIT {

    private static final Duration GUARD = Duration.ofSeconds(120); // hang guard, not a timing claim

    @TempDir
    Path dir;

    @Test
    void withoutStructuredRepliesSimpleRepliesAndOneDataExtentAreUsed() throws Exception {
        try (NbdPeer p = NbdPeer.nbdkit("--no-sr", "memory", "size=4M");
                NbdDevice d = p.client("").open()) {
            assertThat(d.session().structured()).isFalse();
            assertThat(d.session().extended()).isFalse();
            assertThat(d.session().metaContextId()).isNegative();
            assertThat(d.capabilities().has(Capability.EXTENTS)).isFalse();
            exercise(d);
            assertThat(d.extents(0, d.size())).containsExactly(new Extent(0, d.size(), Extent.Type.DATA));
        }
    }

    @Test
    void maskedHandshakeFallsBackToExportNameAndDefaultBlockSizes() throws Exception {
        try (NbdPeer p = NbdPeer.nbdkit("--mask-handshake=0", "memory", "size=4M");
                NbdDevice d = p.client("").open()) {
            assertThat(d.session().usedGo()).isFalse();
            assertThat(d.session().structured()).isFalse();
            assertThat(d.blockSizes()).isEqualTo(BlockSizes.DEFAULT);
            exercise(d);
        }
        // Fixed newstyle without NO_ZEROES: GO still works; EXPORT_NAME would need the 124 zeros.
        try (NbdPeer p = NbdPeer.nbdkit("--mask-handshake=1", "memory", "size=4M");
                NbdDevice d = p.client("").open()) {
            assertThat(d.session().usedGo()).isTrue();
            exercise(d);
        }
    }

    private static void exercise(NbdDevice d) throws IOException {
        byte[] data = new byte[1 << 20];
        new Random(1).nextBytes(data);
        d.write(ByteBuffer.wrap(data), 777, WriteFlag.FUA);
        d.sync();
        ByteBuffer back = ByteBuffer.allocate(data.length);
        d.read(back, 777);
        assertThat(back.array()).isEqualTo(data);
        d.writeZeroes(777, 4096, false);
        d.discard(0, 1 << 20);
        ByteBuffer z = ByteBuffer.allocate(4096);
        d.read(z, 777);
        assertThat(z.array()).containsOnly(0);
    }

    @Test
    void fastZeroAgainstNbdkitMemoryAndTheNozeroFilter() throws Exception {
        byte[] ones = new byte[65536];
        java.util.Arrays.fill(ones, (byte) 1);
        try (NbdPeer p = NbdPeer.nbdkit("memory", "size=4M"); NbdDevice d = p.client("").open()) {
            assertThat(d.session().has(Wire.TFLAG_SEND_FAST_ZERO)).isTrue();
            d.write(ByteBuffer.wrap(ones), 0);
            assertThat(d.writeZeroesIfFast(0, 65536, true)).isTrue();
            assertThat(read(d, 0, 65536)).containsOnly(0);
        }
        // Fast zeroing advertised, but every FAST_ZERO request refused at once with ENOTSUP.
        try (NbdPeer p = NbdPeer.nbdkit("--filter=nozero", "memory", "size=4M", "zeromode=plugin",
                "fastzeromode=slow"); NbdDevice d = p.client("").open()) {
            assertThat(d.session().has(Wire.TFLAG_SEND_FAST_ZERO)).isTrue();
            d.write(ByteBuffer.wrap(ones), 0);
            assertThat(d.writeZeroesIfFast(0, 65536, true)).isFalse();
            assertThat(read(d, 0, 65536)).containsOnly(1);
            d.writeZeroes(0, 65536, true); // never FAST_ZERO: not refused
            assertThat(read(d, 0, 65536)).containsOnly(0);
        }
        // Not advertised: nothing is sent, and zeroing still works the normal way.
        try (NbdPeer p = NbdPeer.nbdkit("--filter=nozero", "memory", "size=4M", "zeromode=plugin",
                "fastzeromode=none"); NbdDevice d = p.client("").open()) {
            assertThat(d.session().has(Wire.TFLAG_SEND_FAST_ZERO)).isFalse();
            d.write(ByteBuffer.wrap(ones), 0);
            assertThat(d.writeZeroesIfFast(0, 65536, true)).isFalse();
            assertThat(read(d, 0, 65536)).containsOnly(1);
            d.writeZeroes(0, 65536, false);
            assertThat(read(d, 0, 65536)).containsOnly(0);
        }
    }

    private static byte[] read(NbdDevice d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }

    /**
     * close() ends every connection with {@code NBD_CMD_DISC}: nbdkit's debug log (-v) says
     * "client sent NBD_CMD_DISC" for a clean disconnect and "client closed input socket" for a
     * connection that just went away — which is what a dropped connection looks like (the control).
     */
    @Test
    void closeSendsDiscOnEveryConnectionSoTheServerSeesACleanDisconnect() throws Exception {
        try (NbdPeer p = NbdPeer.nbdkit("-v", "memory", "size=4M")) {
            NbdDevice d = p.client("").connections(2).open();
            assertThat(d.connectionCount()).isEqualTo(2);
            d.write(ByteBuffer.wrap(new byte[] {1}), 0);
            d.sync();
            awaitLog(p, "client closed input socket", 1); // NbdPeer's port probe; its line may come late
            int dropped = count(p.output(), "client closed input socket");
            d.dropConnectionForTest(1); // control: a connection that just goes away
            awaitLog(p, "client closed input socket", dropped + 1);
            d.read(ByteBuffer.allocate(1), 1); // requests go round robin: one of these reconnects slot 1
            d.read(ByteBuffer.allocate(1), 1);
            d.close();
            awaitLog(p, "client sent NBD_CMD_DISC", 2);
            assertThat(count(p.output(), "client closed input socket")).as(p.output()).isEqualTo(dropped + 1);
        }
    }

    private static void awaitLog(NbdPeer p, String line, int times) throws InterruptedException {
        for (int i = 0; i < 1000 && count(p.output(), line) < times; i++) {
            Thread.sleep(10);
        }
        assertThat(count(p.output(), line)).as(p.output()).isEqualTo(times);
    }

    private static int count(String text, String line) {
        int n = 0;
        for (int at = text.indexOf(line); at >= 0; at = text.indexOf(line, at + 1)) {
            n++;
        }
        return n;
    }

    @Test
    void errorFilterEioAndEnospcSurfaceAsTheRightExceptions() throws Exception {
        try (NbdPeer p = NbdPeer.nbdkit("--filter=error", "memory", "size=4M", "error-pread=EIO",
                "error-pread-rate=100%", "error-pwrite=ENOSPC", "error-pwrite-rate=100%");
                NbdDevice d = p.client("").open()) {
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(4096), 0))
                    .isExactlyInstanceOf(IOException.class)
                    .hasMessageContaining("127.0.0.1:" + p.port()).hasMessageContaining("read of 4096 bytes at offset 0")
                    .hasMessageContaining("EIO");
            assertThatThrownBy(() -> d.write(ByteBuffer.allocate(4096), 8192)).isInstanceOf(NoSpaceException.class)
                    .hasMessageContaining("write of 4096 bytes at offset 8192");
            d.sync(); // flush is not affected: the connection survived both errors
        }
    }

    @Test
    void delayFilterMakesRequestsTimeOutAndNothingHangs() throws Exception {
        try (NbdPeer p = NbdPeer.nbdkit("--filter=delay", "memory", "size=4M", "rdelay=20")) {
            assertTimeoutPreemptively(GUARD, () -> {
                NbdDevice d = p.client("").requestTimeout(Duration.ofMillis(300))
                        .reconnectDeadline(Duration.ofSeconds(10)).open();
                assertThatThrownBy(() -> d.read(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class)
                        .hasMessageContaining("no reply within");
                // Writes are not delayed: after the timeout closed the connection, the client reconnects.
                d.write(ByteBuffer.wrap(new byte[] {1}), 0, WriteFlag.FUA);
                assertThatThrownBy(() -> d.read(ByteBuffer.allocate(512), 0)).hasMessageContaining("no reply within");
                d.close();
            });
        }
    }

    @Test
    void killedAndRestartedServerReconnectsRetriesAndKeepsAcknowledgedData() throws Exception {
        String test = "dev.volumes.nbd.NbdClientPeersIT#killedAndRestartedServerReconnectsRetriesAndKeepsAcknowledgedData";
        long seedValue = Seeds.forTest(test);
        String seed = Seeds.reproduceWith(test);
        Path file = dir.resolve("disk.raw");
        int blocks = 512;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(blocks * 4096L);
        }
        int port = NbdPeer.freePort();
        NbdPeer[] peer = {NbdPeer.nbdkit(port, "file", "file=" + file)};
        try {
            assertTimeoutPreemptively(GUARD, () -> {
                NbdDevice d = peer[0].client("").connections(2).reconnectDeadline(Duration.ofSeconds(30))
                        .requestTimeout(Duration.ofSeconds(20)).open();
                ConcurrentHashMap<Integer, Byte> acknowledged = new ConcurrentHashMap<>();
                AtomicInteger done = new AtomicInteger();
                List<Thread> writers = new ArrayList<>();
                List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int id = t;
                    writers.add(Thread.ofVirtual().start(() -> {
                        Random rnd = new Random(seedValue + id);
                        try {
                            for (int i = 0; i < 150; i++) {
                                int block = id * (blocks / 4) + rnd.nextInt(blocks / 4);
                                byte value = (byte) (1 + rnd.nextInt(250));
                                byte[] b = new byte[4096];
                                java.util.Arrays.fill(b, value);
                                d.write(ByteBuffer.wrap(b), block * 4096L, WriteFlag.FUA);
                                acknowledged.put(block, value);
                                done.incrementAndGet();
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }));
                }
                while (done.get() < 150 && failures.isEmpty()) {
                    Thread.sleep(1);
                }
                peer[0].kill(); // mid-workload: requests in flight get no reply
                Thread.sleep(300);
                peer[0] = NbdPeer.nbdkit(port, "file", "file=" + file);
                for (Thread w : writers) {
                    w.join();
                }
                assertThat(failures).as(seed).isEmpty();
                assertThat(done.get()).isEqualTo(600);
                assertThat(d.reconnects()).as("reconnects").isPositive();
                System.out.println("kill/restart: reconnects=" + d.reconnects() + " resent=" + d.resentRequests());
                d.sync(); // FUA writes only: nothing was unflushed at the drop, so sync succeeds
                verify(d, acknowledged, seed);

                // Now a plain (unflushed) write acknowledged before a crash: the journal re-sends it.
                d.write(ByteBuffer.wrap(new byte[4096]), 0);
                acknowledged.put(0, (byte) 0);
                peer[0].kill();
                peer[0] = NbdPeer.nbdkit(port, "file", "file=" + file);
                verify(d, acknowledged, seed); // reads reconnect (and replay) and still work
                d.sync();
                assertThat(d.replays()).as("replays").isPositive();
                d.close();
                // Without a journal the same drop makes sync say durability is unknown.
                NbdDevice bare = peer[0].client("").replayJournal(0).reconnectDeadline(Duration.ofSeconds(30)).open();
                bare.write(ByteBuffer.wrap(new byte[4096]), 0);
                peer[0].kill();
                peer[0] = NbdPeer.nbdkit(port, "file", "file=" + file);
                verify(bare, acknowledged, seed);
                assertThatThrownBy(bare::sync).hasMessageContaining("127.0.0.1:" + port)
                        .hasMessageContaining("durability is unknown");
                bare.close();
                try (NbdDevice again = peer[0].client("").open()) {
                    verify(again, acknowledged, seed); // file-backed: acknowledged data survived both kills
                }
            });
        } finally {
            peer[0].close();
        }
    }

    private static void verify(NbdDevice d, java.util.Map<Integer, Byte> acknowledged, String seed)
            throws IOException {
        for (var e : acknowledged.entrySet()) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            d.read(b, e.getKey() * 4096L);
            for (int i = 0; i < 4096; i++) {
                if (b.get(i) != e.getValue()) {
                    throw new AssertionError("block " + e.getKey() + " byte " + i + " is " + b.get(i) + ", acknowledged "
                            + e.getValue() + "; " + seed);
                }
            }
        }
    }

    /**
     * {@code nbdkit memory} keeps nothing across a restart: killed and restarted, it comes back all
     * zeros. Every write since open was acknowledged but never flushed, so the replay journal holds
     * all of them; after the restart the next sync re-sends them and they read back.
     */
    @Test
    void nbdkitMemoryKilledAndRestartedGetsEveryAcknowledgedUnflushedWriteBackFromTheJournal() throws Exception {
        int port = NbdPeer.freePort();
        NbdPeer[] peer = {NbdPeer.nbdkit(port, "memory", "size=16M")};
        try {
            assertTimeoutPreemptively(GUARD, () -> {
                try (NbdDevice d = peer[0].client("").connections(2).reconnectDeadline(Duration.ofSeconds(30)).open()) {
                    Random rnd = new Random(11);
                    byte[] image = new byte[16 << 20];
                    for (int i = 0; i < 200; i++) {
                        int off = rnd.nextInt(image.length - 65536);
                        int len = 1 + rnd.nextInt(65536);
                        byte[] b = new byte[len];
                        rnd.nextBytes(b);
                        d.write(ByteBuffer.wrap(b), off);
                        System.arraycopy(b, 0, image, off, len);
                    }
                    d.writeZeroes(4096, 8192, false);
                    java.util.Arrays.fill(image, 4096, 4096 + 8192, (byte) 0);
                    peer[0].kill();
                    peer[0] = NbdPeer.nbdkit(port, "memory", "size=16M"); // empty again
                    d.sync();
                    assertThat(d.replays()).isPositive();
                    ByteBuffer back = ByteBuffer.allocate(image.length);
                    d.read(back, 0);
                    assertThat(java.util.Arrays.mismatch(back.array(), image)).as("first wrong byte").isEqualTo(-1);
                }
            });
        } finally {
            peer[0].close();
        }
    }

    @Test
    void afterTheReconnectDeadlineRequestsFailNamingServerAndWhatWasPending() throws Exception {
        NbdPeer p = NbdPeer.nbdkit("memory", "size=4M");
        NbdDevice d = p.client("").reconnectDeadline(Duration.ofMillis(500)).open();
        p.close();
        assertTimeoutPreemptively(GUARD, () -> {
            assertThatThrownBy(() -> d.write(ByteBuffer.allocate(4096), 8192)).isInstanceOf(IOException.class)
                    .hasMessageContaining("127.0.0.1:" + p.port()).hasMessageContaining("unreachable")
                    .hasMessageContaining("write of 4096 bytes at offset 8192");
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(1), 0)).hasMessageContaining("not sent");
            d.close();
        });
    }
}

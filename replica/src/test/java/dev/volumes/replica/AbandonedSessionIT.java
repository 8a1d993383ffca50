package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.nbd.NbdClient;
import dev.volumes.pool.Pool;
import dev.volumes.testkit.CuttingProxy;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replica sessions the engine has abandoned (dropped out, replaced, superseded by a fresh session)
 * must never reach their replica again — neither by reconnecting on their own nor by replaying
 * the NBD client's journal — and a stale client of the same writer and term must never supersede
 * a newer session (docs/replication.md §1 "Abandoned sessions", §2 "Session numbers"). Pool
 * volumes behind {@link ReplicaServer}s on loopback; each volume sits behind a
 * {@link FaultInjector} used as a call counter below the term fence.
 */
class AbandonedSessionIT {

    private static final long DATA = 1 << 20;
    private static final int BLOCK = 4096;
    private static final Op[] DATA_OPS = {Op.READ, Op.WRITE, Op.WRITE_ZEROES, Op.DISCARD, Op.SYNC, Op.EXTENTS};

    @TempDir
    Path dir;

    private final PoolVolumes volumes = new PoolVolumes(DATA, 16 << 20);
    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final byte[] model = new byte[(int) DATA];

    private ReplicaServer startServer(int i) throws IOException {
        ReplicaServer s = ReplicaServer.builder().export("vol", volumes.add()).stateDir(dir.resolve("server" + i)).start();
        servers.add(s);
        return s;
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closers.reversed()) {
            c.close();
        }
        for (ReplicaServer s : servers) {
            s.close();
        }
        volumes.close();
    }

    /** Data calls (not the handshake's size) that reached replica {@code i}'s volume. */
    private long dataCalls(int i) {
        long n = 0;
        for (Op op : DATA_OPS) {
            n += volumes.fault(i).calls(op);
        }
        return n;
    }

    private void write(Device dev, int block, long seed) throws IOException {
        byte[] data = Fixture.pattern(BLOCK, seed);
        dev.write(ByteBuffer.wrap(data), (long) block * BLOCK);
        System.arraycopy(data, 0, model, block * BLOCK, BLOCK);
    }

    private static void await(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(5);
        }
    }

    /**
     * The CI failure of {@code ReplicaNbdIT.aDeadNbdReplicaIsReplacedByANewOneAndFullyRebuilt},
     * made deterministic. r2's connection is cut while it holds acknowledged, unflushed writes (in
     * its NBD client's replay journal); the next write's r2 copy starts a reconnect, which a proxy
     * parks inside the handshake, so the engine times the write out on r2 and drops r2. r2 is then
     * replaced by a new replica on another server, and the parked reconnect is let through. No
     * newer claim ever reaches r2's server, so only the client can stop itself: before the fix the
     * old session re-claimed r2, replayed its journal and re-sent the timed-out write onto the
     * replaced volume (10 data calls after the replace: 8 replayed writes, the re-sent write and
     * the sync of its disconnect).
     */
    @Test
    void aDroppedReplicaSessionThatWasReconnectingNeverReachesTheReplicaAgain() throws Exception {
        startServer(0);
        startServer(1);
        startServer(2);
        ReplicaServer replacement = startServer(3);
        CuttingProxy proxy = new CuttingProxy(servers.get(2).address());
        closers.add(proxy);
        Duration long30 = Duration.ofSeconds(30);
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
                ReplicatedDevice dev = Replication.builder().name("vol").term(1).writer("node1")
                        .stateDir(dir.resolve("writer")).writeTimeout(Duration.ofSeconds(2)).regionSize(64 << 10)
                        .replica("r0", ReplicaConnector.nbd("127.0.0.1", servers.get(0).address().getPort(), "vol"))
                        .replica("r1", ReplicaConnector.nbd("127.0.0.1", servers.get(1).address().getPort(), "vol"))
                        .replica("r2", ReplicaConnector.nbdBuilder("127.0.0.1", proxy.port(), "vol")
                                .requestTimeout(long30).reconnectDeadline(long30).handshakeTimeout(long30).build())
                        .skipInitialSync().open()) {
            Engine engine = (Engine) dev;
            for (int b = 0; b < 8; b++) {
                write(dev, b, b); // acknowledged, not flushed: in r2's replay journal
            }
            proxy.hold();
            proxy.cutAll();
            Future<?> w = ex.submit(() -> {
                write(dev, 9, 9);
                return null;
            });
            await("r2's reconnect is parked in its handshake", () -> proxy.parkedTotal() == 1);
            w.get(60, TimeUnit.SECONDS); // r0 and r1 hold it; r2 timed out and was dropped
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.status().get(2).reason()).contains("no answer within");

            dev.replace("r2", ReplicaConnector.nbd("127.0.0.1", replacement.address().getPort(), "vol"));
            long before = dataCalls(2);
            proxy.release();
            await("the dropped session's request returned", () -> engine.member("r2").inflight.get() == 0);
            assertThat(dataCalls(2)).as("data calls on the replaced r2 after the replace (journal replay, resend)")
                    .isEqualTo(before);

            RebuildReport r = dev.rebuild("r2");
            assertThat(r.delta()).isFalse();
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            for (int i : new int[] {0, 1, 3}) {
                assertThat(Arrays.mismatch(Fixture.readAll(volumes.volume(i), DATA), model)).as("volume %d", i)
                        .isEqualTo(-1);
            }
            assertThat(dataCalls(2)).as("data calls on the replaced r2 after the rebuild").isEqualTo(before);
        }
    }
    /**
     * Server side: a stale NBD client of the same writer and term — here one the test keeps
     * alive instead of the engine abandoning it — reconnects after a newer session of its writer
     * replaced it. Its re-claim carries its older session number and is refused (not as a fence),
     * so it neither retires the newer session nor replays its journal over the newer session's
     * write. Before session numbers the re-claim was accepted and the replay put the old bytes
     * back (the volume held the stale block). A reconnect of the current session (same number)
     * still works.
     */
    @Test
    void aStaleSessionOfTheSameWriterAndTermCannotReclaimOrReplay() throws Exception {
        startServer(0);
        CuttingProxy proxy = new CuttingProxy(servers.get(0).address());
        closers.add(proxy);
        ReplicaConnector direct = ReplicaConnector.nbd("127.0.0.1", servers.get(0).address().getPort(), "vol");
        ReplicaConnector proxied = ReplicaConnector.nbd("127.0.0.1", proxy.port(), "vol");
        byte[] stale = Fixture.pattern(BLOCK, 1);
        byte[] current = Fixture.pattern(BLOCK, 2);
        try (Device old = direct.connect(1, "node1")) {
            old.write(ByteBuffer.wrap(stale), 0); // acknowledged, unflushed: in old's replay journal
            try (Device newer = proxied.connect(1, "node1")) { // the same writer's newer session: cuts old
                newer.write(ByteBuffer.wrap(current), 0);
                newer.sync();
                IOException refused = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                        () -> old.read(ByteBuffer.allocate(BLOCK), 0)); // reconnects and re-claims
                assertThat(refused).isNotInstanceOf(FencedException.class);
                assertThat(refused).hasStackTraceContaining("is older than session");
                assertThat(NbdConnector.asFenced(refused, "r0", 1, "node1")).isNull();
                assertThat(Arrays.copyOf(Fixture.readAll(volumes.volume(0), BLOCK), BLOCK)).as("the volume's block 0")
                        .isEqualTo(current);
                proxy.cutAll(); // the current session reconnects with its own number: allowed
                ByteBuffer got = ByteBuffer.allocate(BLOCK);
                newer.read(got, 0);
                assertThat(got.array()).isEqualTo(current);
                assertThatThrownBy(() -> old.write(ByteBuffer.wrap(stale), 0)).isInstanceOf(IOException.class);
            }
        }
        assertThat(Arrays.copyOf(Fixture.readAll(volumes.volume(0), BLOCK), BLOCK)).isEqualTo(current);
    }

    /**
     * A replica server from before session numbers refuses the unknown {@code session} parameter;
     * the connector then claims without it (the old rules), so writers can be upgraded first.
     */
    @Test
    void aServerWithoutSessionNumbersIsClaimedWithoutOne() throws Exception {
        List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        MemoryDevice disk = MemoryDevice.create("old", Replication.replicaSize(DATA));
        dev.volumes.nbd.NbdServer old = dev.volumes.nbd.NbdServer.builder()
                .listen(new java.net.InetSocketAddress("127.0.0.1", 0))
                .exportResolver((name, conn) -> {
                    asked.add(name);
                    if (name.contains(";session=")) { // what ExportName.parse said before session numbers
                        throw new dev.volumes.nbd.ExportRefusedException("replica export name " + name
                                + ": unknown parameter 'session' (known: term, writer)");
                    }
                    return java.util.Optional.of(new dev.volumes.nbd.ResolvedExport("vol", null, disk, null));
                }).build();
        old.start();
        closers.add(old);
        try (Device d = ReplicaConnector.nbd("127.0.0.1", old.address().getPort(), "vol").connect(3, "node3")) {
            d.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), 0);
        }
        assertThat(asked).hasSize(2);
        assertThat(asked.get(0)).startsWith("vol;term=3;writer=node3;session=");
        assertThat(asked.get(1)).isEqualTo("vol;term=3;writer=node3");
    }
}

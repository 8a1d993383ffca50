package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Split brain over real NBD sockets: pool volumes behind three {@link ReplicaServer}s on
 * loopback, a deposed writer still running while a successor claims them with a higher term.
 * Each export's volume sits behind a {@link FaultInjector} used as a call counter, below the term
 * fence, so "nothing reaches the replica" is counted, not assumed.
 */
class FencingNbdIT {

    private static final long DATA = 4 << 20;
    private static final int BLOCK = 4096;
    private static final long REGION = 64 << 10;

    @TempDir
    Path dir;

    private final PoolVolumes volumes = new PoolVolumes(DATA, 64 << 20);
    private final List<ReplicaServer> servers = new ArrayList<>();
    /** Cuts of superseded connections held back by the servers (only when asked to). */
    private final List<Runnable> heldCuts = new CopyOnWriteArrayList<>();

    private void startServers(boolean holdCuts) throws IOException {
        for (int i = 0; i < 3; i++) {
            ReplicaServer.Builder b = ReplicaServer.builder().export("vol", volumes.add())
                    .stateDir(dir.resolve("server" + i));
            if (holdCuts) {
                b.supersededCut(heldCuts::add);
            }
            servers.add(b.start());
        }
    }

    @AfterEach
    void stop() throws IOException {
        heldCuts.forEach(Runnable::run);
        for (ReplicaServer s : servers) {
            s.close();
        }
        volumes.close();
    }

    private ReplicaConnector nbd(int i) {
        return ReplicaConnector.nbdBuilder("127.0.0.1", servers.get(i).address().getPort(), "vol")
                .requestTimeout(Duration.ofSeconds(10)).reconnectDeadline(Duration.ofMillis(300)).build();
    }

    private static final ReplicaConnector PARTITIONED = new ReplicaConnector() {
        @Override
        public Device connect(long term, String writer) throws IOException {
            throw new IOException("partitioned from this writer");
        }

        @Override
        public String describe() {
            return "partitioned";
        }
    };

    private Replication.Builder writer(long term, String node, List<ReplicaConnector> replicas) {
        Replication.Builder b = Replication.builder().name("vol@" + node).term(term).writer(node)
                .stateDir(dir.resolve("state-" + node)).writeTimeout(Duration.ofSeconds(5)).regionSize(REGION);
        for (int i = 0; i < replicas.size(); i++) {
            b.replica("r" + i, replicas.get(i));
        }
        return b;
    }

    private List<ReplicaConnector> allNbd() {
        return new ArrayList<>(List.of(nbd(0), nbd(1), nbd(2)));
    }

    private long calls(int replica) {
        long n = 0;
        for (Op op : Op.values()) {
            n += volumes.fault(replica).calls(op);
        }
        return n;
    }

    private byte[] raw(int replica) throws IOException {
        return Fixture.readAll(volumes.volume(replica), Replication.replicaSize(DATA));
    }

    private static ReplicaHeader header(Device d) throws IOException {
        return ReplicaHeader.read(d, d.name());
    }

    /**
     * A request of a superseded session that reaches the server (here: the server holds back the
     * cut of the old connection, as happens in the window between a claim and the cut) is
     * refused with an error reply whose message is the fence's, and the connector turns it into a
     * FencedException naming both terms — not a bare EIO.
     */
    @Test
    void aRequestOfASupersededSessionFailsAsFencedNamingBothTerms() throws Exception {
        startServers(true);
        try (Device old = nbd(0).connect(7, "nodeA")) {
            old.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 0);
            // a claim in-process (no second connection whose own requests would be counted)
            // supersedes the NBD session; the server holds back the cut of its connection
            servers.get(0).localConnector("vol").connect(8, "nodeB");
            assertThat(heldCuts).hasSize(1);
            long before = calls(0);
            assertThatThrownBy(() -> old.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), BLOCK))
                    .isInstanceOfSatisfying(FencedException.class, f -> {
                        assertThat(f.refusedTerm()).isEqualTo(7);
                        assertThat(f.promisedTerm()).isEqualTo(8);
                    })
                    .hasMessageContaining("session of term 7 (writer nodeA) superseded by term 8 of writer nodeB");
            assertThatThrownBy(old::sync).isInstanceOf(FencedException.class);
            assertThat(calls(0)).as("calls that reached the volume").isEqualTo(before);
        }
    }

    /**
     * A second claim by the same writer with the same term (a reconnect; the engine's fencing
     * probe) retires the first session, but is not a fence: a request of the first session that
     * reaches the server before its cut fails as an ordinary error. A newer term claimed later
     * still fences it, and a claim of the same term by another writer is refused as a fence.
     */
    @Test
    void aSameWriterSameTermReclaimOverNbdIsNotAFenceButANewerTermIs() throws Exception {
        startServers(true);
        try (Device old = nbd(0).connect(7, "nodeA"); Device again = nbd(0).connect(7, "nodeA")) {
            assertThat(heldCuts).hasSize(1);
            long before = calls(0);
            assertThatThrownBy(() -> old.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), BLOCK))
                    .isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class)
                    .hasMessageContaining("replaced by a newer session of the same writer and term");
            assertThat(calls(0)).as("calls that reached the volume").isEqualTo(before);
            again.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), BLOCK);
            servers.get(0).localConnector("vol").connect(8, "nodeB");
            for (Device d : List.of(old, again)) {
                assertThatThrownBy(() -> d.read(ByteBuffer.allocate(BLOCK), 0))
                        .isInstanceOfSatisfying(FencedException.class, f -> {
                            assertThat(f.refusedTerm()).isEqualTo(7);
                            assertThat(f.promisedTerm()).isEqualTo(8);
                        });
            }
        }
        assertThatThrownBy(() -> nbd(0).connect(8, "nodeC")).isInstanceOfSatisfying(FencedException.class,
                f -> assertThat(f.promisedTerm()).isEqualTo(8));
        assertThatThrownBy(() -> nbd(0).connect(7, "nodeA")).isInstanceOf(FencedException.class);
    }

    /**
     * The review's race, made deterministic by holding back the cuts: a write fails on r1 and r2,
     * too few would remain, so the engine keeps them in sync and probes them with its own term and
     * writer. Each probe's claim retires the writer's session on that replica; a read on the
     * retired r1 session then reaches the server and is refused. That refusal is not a fence: the
     * read goes on to r0, and the writer is not deposed (its writes are refused only until it
     * reopens, as after any below-requirement failure). Before the fix the refusal was taken as
     * a fence and the engine stopped for good.
     */
    @Test
    void theWritersOwnFencingProbeDoesNotMakeItFenced() throws Exception {
        startServers(true);
        byte[] acked = Fixture.pattern(BLOCK, 1);
        try (ReplicatedDevice a = writer(1, "nodeA", allNbd()).preferred("r1").skipInitialSync().open()) {
            a.write(ByteBuffer.wrap(acked), 0);
            for (int i = 1; i < 3; i++) {
                volumes.fault(i).on(Op.WRITE).when(r -> r.offset() == BLOCK).times(1).fail(FaultInjector.Fault.EIO);
            }
            assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), BLOCK))
                    .isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class)
                    .hasMessageContaining("nothing is published");
            assertThat(heldCuts).as("the probes' claims retired the writer's sessions on r1 and r2").hasSize(2);
            assertThat(a.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            ByteBuffer got = ByteBuffer.allocate(BLOCK);
            a.read(got, 0);
            assertThat(got.array()).isEqualTo(acked);
            assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), 0))
                    .isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class)
                    .hasMessageContaining("(reopen)");
        }
        try (ReplicatedDevice again = writer(1, "nodeA", allNbd()).open()) {
            assertThat(again.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            assertThat(Fixture.readAll(again, BLOCK)).isEqualTo(acked);
        }
    }

    /** The engine learns it is fenced from the refused request itself, before any probe or drop-out. */
    @Test
    void theEngineSurfacesTheServersFencingOfARequestAsFencedException() throws Exception {
        startServers(true);
        try (ReplicatedDevice a = writer(1, "nodeA", allNbd()).skipInitialSync().open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 0);
            long generation = a.generation();
            try (ReplicatedDevice b = writer(2, "nodeB", allNbd()).open()) {
                assertThat(heldCuts).hasSize(3);
                long[] before = {calls(0), calls(1), calls(2)};
                assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 0))
                        .isInstanceOf(FencedException.class)
                        .hasMessageContaining("superseded by term 2 of writer nodeB");
                assertThat(a.generation()).as("no drop-out was published").isEqualTo(generation);
                assertThat(new long[] {calls(0), calls(1), calls(2)}).isEqualTo(before);
                assertThat(Fixture.readAll(b, BLOCK)).isEqualTo(Fixture.pattern(BLOCK, 1));
            }
        }
    }

    /**
     * The issue's fencing claim over NBD, majority case: the successor reaches r0 and r1 only.
     * The deposed writer keeps running: every write and sync is refused, and nothing it sends
     * after the claim reaches r0 or r1 (no call at all reaches their volumes). What can reach the
     * unclaimed r2 (docs/replication.md §7): the data of writes the deposed writer sends before
     * it learns of the fence, and rewrites of its header area with the deposed writer's term and
     * current generation (a new dirty bit is published to every replica it holds in sync); not a
     * new generation here, because its failures on r0 and r1 are cuts or refusals, which it
     * recognises as fencing. Its content there is never read: r2's header stays below the
     * successor's in (term, generation), so it is stale and rebuilt from the majority.
     */
    @Test
    void aDeposedWriterIsRefusedAndReachesNeitherClaimedReplicaWhenAMajorityIsClaimed() throws Exception {
        startServers(false);
        byte[] acked = Fixture.pattern(BLOCK, 1);
        Set<Long> attempted = new TreeSet<>();
        try (ReplicatedDevice a = writer(1, "nodeA", allNbd()).skipInitialSync().open()) {
            a.write(ByteBuffer.wrap(acked), 0);
            a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 5 * REGION); // region 5's bit is published
            List<ReplicaConnector> bReplicas = allNbd();
            bReplicas.set(2, PARTITIONED);
            try (ReplicatedDevice b = writer(2, "nodeB", bReplicas).open()) {
                assertThat(b.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
                b.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), 8 * BLOCK);
                b.sync();
                long[] before = {calls(0), calls(1)};
                byte[][] bytesBefore = {raw(0), raw(1), raw(2)};
                long r2Generation = header(volumes.volume(2)).generation();
                // already-dirty region first (its data goes out at once), then fresh regions (a publish first)
                long[] offsets = {5 * REGION + BLOCK, 0, 20 * REGION, 30 * REGION + BLOCK, 40 * REGION};
                for (long at : offsets) {
                    attempted.add(at / BLOCK);
                    assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 9)), at))
                            .as("write at %d", at).isInstanceOf(FencedException.class);
                }
                assertThatThrownBy(a::sync).isInstanceOf(FencedException.class);
                assertThatThrownBy(() -> a.writeZeroes(0, BLOCK, false)).isInstanceOf(FencedException.class);
                assertThat(new long[] {calls(0), calls(1)}).as("calls that reached r0, r1").isEqualTo(before);
                assertThat(raw(0)).as("r0").isEqualTo(bytesBefore[0]);
                assertThat(raw(1)).as("r1").isEqualTo(bytesBefore[1]);
                // r2: at most the attempted blocks and its header area changed, and no new generation
                byte[] r2 = raw(2);
                for (long blk = 0; blk < DATA / BLOCK; blk++) {
                    int from = (int) (blk * BLOCK);
                    boolean same = Arrays.equals(r2, from, from + BLOCK, bytesBefore[2], from, from + BLOCK);
                    if (!same) {
                        assertThat(attempted).as("block %d of r2 changed", blk).contains(blk);
                    }
                }
                ReplicaHeader h2 = header(volumes.volume(2));
                assertThat(h2.term()).isEqualTo(1);
                assertThat(h2.generation()).isEqualTo(r2Generation);
                ReplicaHeader h0 = header(volumes.volume(0));
                assertThat(Startup.newer(h0.term(), h0.generation(), h2.term(), h2.generation())).isTrue();
            }
        }
        // the successor, now reaching all three: r2 is stale and rebuilt from the majority
        try (ReplicatedDevice b = writer(2, "nodeB", allNbd()).open()) {
            assertThat(b.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            b.rebuild("r2");
            byte[] r0 = Fixture.readAll(volumes.volume(0), DATA);
            assertThat(Arrays.mismatch(Fixture.readAll(volumes.volume(1), DATA), r0)).isEqualTo(-1);
            assertThat(Arrays.mismatch(Fixture.readAll(volumes.volume(2), DATA), r0)).isEqualTo(-1);
            assertThat(Fixture.readAll(b, BLOCK)).isEqualTo(acked);
            for (long blk : attempted) {
                ByteBuffer got = ByteBuffer.allocate(BLOCK);
                b.read(got, blk * BLOCK);
                assertThat(got.array()).as("refused write at block %d", blk).isNotEqualTo(Fixture.pattern(BLOCK, 9));
            }
        }
    }
}

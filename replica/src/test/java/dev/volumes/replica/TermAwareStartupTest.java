package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Start-up across terms (docs/replication.md, "Start-up"): freshness is ordered by (term,
 * generation), and a writer's own state file counts only when it is not older than the freshest
 * replica header in that order — so one fixed state directory per volume and node works across
 * terms. Both situations are produced with the real engine: a deposed writer whose drop-out
 * reached its state file (and, in the second test, one unclaimed replica) but not the claimed
 * ones. The hook that interleaves the successor's claims is the deposed writer's own fencing
 * probe, so nothing depends on timing.
 */
class TermAwareStartupTest {

    private static final long SIZE = 1 << 20;
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<MemoryDevice> disks = new ArrayList<>();
    private final List<FaultInjector> faults = new ArrayList<>();

    private void startServers(int n) throws IOException {
        for (int i = 0; i < n; i++) {
            MemoryDevice d = MemoryDevice.create("r" + i, Replication.replicaSize(SIZE));
            disks.add(d);
            FaultInjector f = FaultInjector.wrap(new Fixture.Unclosable(d));
            faults.add(f);
            servers.add(ReplicaServer.builder().export("vol", f).stateDir(dir.resolve("server" + i)).start());
        }
    }

    @AfterEach
    void stop() throws IOException {
        for (ReplicaServer s : servers) {
            s.close();
        }
    }

    /** A connector that runs a hook (once) before its next connect: used to interleave claims. */
    static final class Hooked implements ReplicaConnector {
        private final ReplicaConnector inner;
        volatile IoRunnable beforeNextConnect;

        Hooked(ReplicaConnector inner) {
            this.inner = inner;
        }

        @Override
        public Device connect(long term, String writer) throws IOException {
            IoRunnable hook = beforeNextConnect;
            beforeNextConnect = null;
            if (hook != null) {
                hook.run();
            }
            return inner.connect(term, writer);
        }

        @Override
        public String describe() {
            return inner.describe();
        }
    }

    interface IoRunnable {
        void run() throws IOException;
    }

    private static final ReplicaConnector PARTITIONED = new ReplicaConnector() {
        @Override
        public Device connect(long term, String writer) throws IOException {
            throw new IOException("partitioned");
        }

        @Override
        public String describe() {
            return "partitioned";
        }
    };

    private List<Hooked> connectors() {
        List<Hooked> out = new ArrayList<>();
        for (ReplicaServer s : servers) {
            out.add(new Hooked(s.localConnector("vol")));
        }
        return out;
    }

    /** A writer on node {@code node} with that node's one, fixed state directory. */
    private Replication.Builder node(String node, long term, List<? extends ReplicaConnector> replicas) {
        Replication.Builder b = Replication.builder().name(node).term(term).writer(node)
                .stateDir(dir.resolve("state-" + node)).writeTimeout(Duration.ofSeconds(5));
        for (int i = 0; i < replicas.size(); i++) {
            b.replica("r" + i, replicas.get(i));
        }
        return b;
    }

    private void claim(int replica, long term, String writer) throws IOException {
        servers.get(replica).localConnector("vol").connect(term, writer).close();
    }

    static void assertIdentical(byte[] expected, byte[] actual, String what) {
        assertThat(Arrays.mismatch(actual, expected)).as("first byte where %s differs", what).isEqualTo(-1);
    }

    private static ReplicaHeader header(MemoryDevice d) throws IOException {
        return ReplicaHeader.read(d, d.name());
    }

    /** A connector whose next session runs {@code hook} once, before its first call of {@code op}. */
    private static ReplicaConnector claimedBefore(ReplicaConnector inner, String op, IoRunnable hook) {
        return new ReplicaConnector() {
            @Override
            public Device connect(long term, String writer) throws IOException {
                Device d = inner.connect(term, writer);
                java.util.concurrent.atomic.AtomicBoolean armed = new java.util.concurrent.atomic.AtomicBoolean(true);
                return new dev.volumes.device.ForwardingDevice(d) {
                    private void before(String what) throws IOException {
                        if (what.equals(op) && armed.getAndSet(false)) {
                            hook.run();
                        }
                    }

                    @Override
                    public long size() throws IOException {
                        before("size");
                        return super.size();
                    }

                    @Override
                    public void write(ByteBuffer src, long offset, dev.volumes.device.WriteFlag flag) throws IOException {
                        before("write");
                        super.write(src, offset, flag);
                    }

                    @Override
                    public void write(ByteBuffer src, long offset) throws IOException {
                        write(src, offset, dev.volumes.device.WriteFlag.NONE);
                    }
                };
            }

            @Override
            public String describe() {
                return inner.describe();
            }
        };
    }

    private long[] generations() throws IOException {
        long[] g = new long[disks.size()];
        for (int i = 0; i < g.length; i++) {
            g[i] = header(disks.get(i)).generation();
        }
        return g;
    }

    /**
     * minInSync(1), this node's state current: a newer writer claims r1 after our claim but before
     * our size() of it. The session's size() is refused as fenced; the open must fail with
     * FencedException and write no header. Before the fix the refusal counted as "unreachable at
     * open", and with the state current the open went on and wrote term-2 headers to r0 and r2,
     * which the newer writer had not reached.
     */
    @Test
    void aNewerClaimBetweenOurClaimAndOurSizeFailsTheOpen() throws Exception {
        startServers(3);
        try (ReplicatedDevice dev = node("nodeA", 1, connectors()).mode(ReplicationMode.minInSync(1))
                .skipInitialSync().open()) {
            dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 0);
        }
        long[] before = generations();
        List<ReplicaConnector> a = new ArrayList<>(connectors());
        a.set(1, claimedBefore(a.get(1), "size", () -> claim(1, 5, "nodeB")));
        assertThatThrownBy(() -> node("nodeA", 2, a).mode(ReplicationMode.minInSync(1)).open())
                .isInstanceOfSatisfying(FencedException.class, f -> assertThat(f.promisedTerm()).isEqualTo(5))
                .hasMessageContaining("open with term 2");
        assertThat(generations()).as("no header was written").isEqualTo(before);
        for (MemoryDevice d : disks) {
            assertThat(header(d).term()).isEqualTo(1);
        }
    }

    /**
     * The same, but the newer writer claims r1 while our open copies the activity log onto it
     * (restart resync, a dirty region left by a write that failed below the requirement). The
     * copy's refusal is a fence, not a failed resync: the open fails with FencedException and
     * writes no header (before: r1 "restart resync failed", term-2 headers on r0 and r2).
     */
    @Test
    void aNewerClaimDuringTheRestartResyncFailsTheOpen() throws Exception {
        startServers(3);
        try (ReplicatedDevice dev = node("nodeA", 1, connectors()).mode(ReplicationMode.minInSync(3))
                .skipInitialSync().open()) {
            dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 0);
            faults.get(2).on(Op.WRITE).when(r -> r.offset() == 4 * BLOCK).times(1).fail(Fault.EIO);
            assertThatThrownBy(() -> dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 4 * BLOCK))
                    .isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class);
        }
        long[] before = generations();
        List<ReplicaConnector> a = new ArrayList<>(connectors());
        a.set(1, claimedBefore(a.get(1), "write", () -> claim(1, 5, "nodeB")));
        assertThatThrownBy(() -> node("nodeA", 2, a).mode(ReplicationMode.minInSync(1)).open())
                .isInstanceOfSatisfying(FencedException.class, f -> assertThat(f.promisedTerm()).isEqualTo(5))
                .hasMessageContaining("restart resync");
        assertThat(generations()).as("no header was written").isEqualTo(before);
    }

    private static final long REGION = 64 << 10;

    /**
     * The history of the review's R3/R4 scenario, with real bytes. minInSync(1), 64 KiB regions:
     * node A (term 1) writes region 3 on all three, then a write to region 3 fails on r0 and r1,
     * which are dropped; A goes on alone on r2 and writes region 12 — its bit reaches r2's header
     * only. A reopens (r2 gets one more generation). Node B (term 2) then opens the set without r2
     * (docs: "open the set without it") and writes region 7. Afterwards r0 and r1 carry (term 2,
     * generation g+1), r2 (term 1, generation g+2) with A's bytes in region 12, which B's line
     * never wrote.
     *
     * @return the highest header generation on any replica
     */
    private long deposedWriterWroteAloneOnR2() throws IOException {
        startServers(3);
        ReplicationMode mode = ReplicationMode.minInSync(1);
        try (ReplicatedDevice a = node("nodeA", 1, connectors()).mode(mode).regionSize(REGION).skipInitialSync()
                .open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 3 * REGION);
            for (int i = 0; i < 2; i++) {
                faults.get(i).on(Op.WRITE).when(r -> r.offset() == 3 * REGION).times(1).fail(Fault.EIO);
            }
            a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 3 * REGION); // acknowledged by r2 alone
            assertThat(a.status()).extracting(ReplicaStatus::state)
                    .containsExactly(ReplicaState.OUT_OF_SYNC, ReplicaState.OUT_OF_SYNC, ReplicaState.IN_SYNC);
            a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), 12 * REGION);
        }
        try (ReplicatedDevice a = node("nodeA", 1, connectors()).mode(mode).regionSize(REGION).open()) {
            assertThat(a.status().get(2).state()).isEqualTo(ReplicaState.IN_SYNC);
        }
        List<Hooked> all = connectors();
        try (ReplicatedDevice b = node("nodeB", 2, all.subList(0, 2)).mode(mode).regionSize(REGION).open()) {
            b.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 4)), 7 * REGION);
        }
        ReplicaHeader r0 = header(disks.get(0));
        ReplicaHeader r2 = header(disks.get(2));
        assertThat(r0.term()).isEqualTo(2);
        assertThat(r2.term()).isEqualTo(1);
        assertThat(r2.generation()).as("the deposed line's generation is the higher one").isGreaterThan(r0.generation());
        assertThat(BitSet.valueOf(r0.bitmap()).get(12)).as("region 12's bit is not in B's line").isFalse();
        assertThat(BitSet.valueOf(r2.bitmap()).get(12)).isTrue();
        return Math.max(r0.generation(), r2.generation());
    }

    private void assertAllReplicasIdentical() throws IOException {
        byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
        assertIdentical(r0, Fixture.readAll(disks.get(1), SIZE), "r1");
        assertIdentical(r0, Fixture.readAll(disks.get(2), SIZE), "r2");
    }

    /**
     * The new generation is above every readable header's, also r2's of the older term, so anyone
     * ordering by generation alone still sees it grow. Before the fix it was the freshest header's
     * generation + 1 (g+2), equal to r2's.
     */
    @Test
    void theNewGenerationIsAboveEveryHeaderSeen() throws Exception {
        long highest = deposedWriterWroteAloneOnR2();
        try (ReplicatedDevice c = node("nodeC", 3, connectors()).mode(ReplicationMode.minInSync(1))
                .regionSize(REGION).open()) {
            assertThat(c.generation()).isEqualTo(highest + 1);
            assertThat(header(disks.get(0)).generation()).isEqualTo(highest + 1);
        }
    }

    /**
     * The third writer finds r2 stale with an older term. Its rebuild must also copy the regions
     * in r2's own header bitmap (region 12, written only by the deposed line); before the fix the
     * delta copied only the current line's dirty regions (3, 7) and r2 rejoined in sync still
     * holding A's bytes in region 12 (first difference at byte 786432 = 12 × 64 KiB).
     */
    @Test
    void aStaleReplicaOfAnOlderTermIsRebuiltWithItsOwnDirtyRegions() throws Exception {
        deposedWriterWroteAloneOnR2();
        try (ReplicatedDevice c = node("nodeC", 3, connectors()).mode(ReplicationMode.minInSync(1))
                .regionSize(REGION).open()) {
            assertThat(c.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(c.status().get(2).reason()).contains("older than term 2");
            ByteBuffer got = ByteBuffer.allocate(BLOCK);
            c.read(got, 12 * REGION);
            assertIdentical(new byte[BLOCK], got.array(), "region 12 in the successor's line");
            RebuildReport report = c.rebuild("r2");
            assertThat(report.delta()).isTrue();
            assertAllReplicasIdentical();
            assertThat(c.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
        }
    }

    /** R3 without a usable bitmap: r2's header bitmap is torn, so its rebuild is a full one. */
    @Test
    void aStaleReplicaOfAnOlderTermWithATornBitmapIsRebuiltInFull() throws Exception {
        deposedWriterWroteAloneOnR2();
        MemoryDevice r2 = disks.get(2);
        ByteBuffer b = ByteBuffer.allocate(1);
        r2.read(b, SIZE + ReplicaHeader.BITMAP_OFFSET);
        r2.write(ByteBuffer.wrap(new byte[] {(byte) (b.get(0) ^ 0x40)}), SIZE + ReplicaHeader.BITMAP_OFFSET);
        assertThat(header(r2).bitmapValid()).isFalse();
        try (ReplicatedDevice c = node("nodeC", 3, connectors()).mode(ReplicationMode.minInSync(1))
                .regionSize(REGION).open()) {
            assertThat(c.rebuild("r2").delta()).isFalse();
            assertAllReplicasIdentical();
        }
    }

    /**
     * Node A (term 1) is deposed while a write fails on r0: its fencing probe of r0 is where the
     * successor claims r1 and r2, so A commits "r0 out, generation g+1" to its own state file and
     * then finds its header publication refused. The successor's open (term 2) writes its
     * generation to r0 only (its header writes to r1 and r2 fail) and gives up. Node A comes back
     * with term 3 and the same state directory: its state (term 1, generation g+1) is older than
     * r0's header (term 2, generation g+1) and must not be trusted. Before the fix it was taken as
     * current (generation g+1 >= g+1): r0 "not in sync per A's state", r1 and r2 "stale", so
     * "0 of 3 replicas in sync" and the volume could not be opened on that node.
     */
    @Test
    void aNodesStateFromAnOlderTermDoesNotOverruleTheReplicasOfANewerTerm() throws Exception {
        startServers(3);
        List<Hooked> a = connectors();
        byte[] acked = Fixture.pattern(BLOCK, 1);
        long g;
        try (ReplicatedDevice dev = node("nodeA", 1, a).skipInitialSync().open()) {
            dev.write(ByteBuffer.wrap(acked), 0);
            g = dev.generation();
            faults.get(0).on(Op.WRITE).when(r -> r.offset() == 2 * BLOCK).times(1).fail(Fault.EIO);
            a.get(0).beforeNextConnect = () -> {
                claim(1, 2, "nodeB");
                claim(2, 2, "nodeB");
            };
            assertThatThrownBy(() -> dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 2 * BLOCK))
                    .isInstanceOf(FencedException.class);
            assertThat(dev.status().get(0).state()).as("A dropped r0 in its own state").isEqualTo(
                    ReplicaState.OUT_OF_SYNC);
            assertThat(dev.generation()).isEqualTo(g + 1);
        }
        for (MemoryDevice d : disks) {
            assertThat(header(d).generation()).as("A's drop-out reached no replica").isEqualTo(g);
        }
        // node B (term 2): its open reaches every replica but its header writes fail on r1 and r2
        for (int i = 1; i < 3; i++) {
            faults.get(i).on(Op.WRITE).when(r -> r.offset() == SIZE).times(1).fail(Fault.EIO);
        }
        assertThatThrownBy(() -> node("nodeB", 2, connectors()).open()).isInstanceOf(IOException.class)
                .isNotInstanceOf(FencedException.class);
        assertThat(header(disks.get(0))).extracting(ReplicaHeader::term, ReplicaHeader::generation)
                .containsExactly(2L, g + 1);
        // node A again, term 3, the same state directory
        try (ReplicatedDevice dev = node("nodeA", 3, connectors()).open()) {
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            assertThat(Fixture.readAll(dev, BLOCK)).isEqualTo(acked);
            byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
            assertIdentical(r0, Fixture.readAll(disks.get(1), SIZE), "r1");
            assertIdentical(r0, Fixture.readAll(disks.get(2), SIZE), "r2");
            dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 3)), 4 * BLOCK);
        }
        // the same node reopens under the same term with the same directory
        try (ReplicatedDevice dev = node("nodeA", 3, connectors()).open()) {
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            assertThat(Fixture.readAll(dev, 5 * BLOCK)).startsWith(acked);
        }
    }

    /**
     * The same deposed-writer drop-out, but the successor has claimed only r1 when A publishes:
     * r2, which the successor never reaches, gets A's generation g+1 (term 1). The successor opens
     * on r0 and r1 with its own generation g+1 (term 2) and acknowledges a write. A third writer
     * then sees generation g+1 on all three replicas. Ordered by generation alone all three were
     * in sync, and with r2 preferred its stale content was copied over the others' activity-log
     * regions: the successor's acknowledged write was lost. Ordered by (term, generation), r2 is
     * stale.
     */
    @Test
    void aHigherTermWinsOverAnEqualGenerationFromADeposedWriter() throws Exception {
        startServers(3);
        List<Hooked> a = connectors();
        long g;
        try (ReplicatedDevice dev = node("nodeA", 1, a).skipInitialSync().open()) {
            dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 1)), 0);
            g = dev.generation();
            faults.get(0).on(Op.WRITE).when(r -> r.offset() == 2 * BLOCK).times(1).fail(Fault.EIO);
            a.get(0).beforeNextConnect = () -> claim(1, 2, "nodeB");
            assertThatThrownBy(() -> dev.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 2)), 2 * BLOCK))
                    .isInstanceOf(FencedException.class);
        }
        assertThat(header(disks.get(2))).as("the deposed writer's drop-out reached the unclaimed r2")
                .extracting(ReplicaHeader::term, ReplicaHeader::generation).containsExactly(1L, g + 1);
        byte[] successor = Fixture.pattern(BLOCK, 5);
        List<ReplicaConnector> b = new ArrayList<>(connectors());
        b.set(2, PARTITIONED);
        try (ReplicatedDevice dev = node("nodeB", 2, b).open()) {
            assertThat(dev.generation()).isEqualTo(g + 1);
            dev.write(ByteBuffer.wrap(successor), 16 * BLOCK);
        }
        try (ReplicatedDevice dev = node("nodeC", 3, connectors()).preferred("r2").open()) {
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(dev.status().get(2).reason()).contains("stale").contains("term 1");
            ByteBuffer got = ByteBuffer.allocate(BLOCK);
            dev.read(got, 16 * BLOCK);
            assertIdentical(successor, got.array(), "the successor's acknowledged write");
            assertThat(dev.rebuild("r2").delta()).isTrue();
            byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
            assertIdentical(r0, Fixture.readAll(disks.get(1), SIZE), "r1");
            assertIdentical(r0, Fixture.readAll(disks.get(2), SIZE), "r2");
        }
    }
}

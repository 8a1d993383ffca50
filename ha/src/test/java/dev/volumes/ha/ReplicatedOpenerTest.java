package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.WriteFlag;
import dev.volumes.replica.FencedException;
import dev.volumes.replica.RebuildProgress;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.Replication;
import dev.volumes.replica.ReplicationMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicatedOpenerTest {

    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    private ReplicaSet set;

    @AfterEach
    void tearDown() throws IOException {
        if (set != null) {
            set.close();
        }
    }

    private ReplicatedOpener.Builder opener(ReplicaSet.Links links) {
        return ReplicatedOpener.builder().volume("vol").nodeId("n1").replicas(links.connectors)
                .mode(ReplicationMode.QUORUM).stateDir(dir.resolve("n1")).regionSize(64 << 10)
                .writeTimeout(Duration.ofSeconds(5)).rebuildInterval(Duration.ofMillis(20));
    }

    private static void write(Device d, long offset, byte value) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        while (b.hasRemaining()) {
            b.put(value);
        }
        d.write(b.flip(), offset, WriteFlag.FUA);
    }

    @Test
    void openClaimsEveryReplicaAndTheDeviceAdvertisesWhatTheOpenerSays() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicatedOpener o = opener(set.links()).build();
        ReplicatedDevice d = o.open(3);
        assertThat(set.promised(0)).isEqualTo(3);
        assertThat(set.promised(1)).isEqualTo(3);
        assertThat(set.promised(2)).isEqualTo(3);
        assertThat(d.capabilities()).isEqualTo(o.capabilities());
        assertThat(d.size()).isEqualTo(SIZE);
        assertThat(o.openTerm()).isEqualTo(3);
        assertThat(o.replicaStatus()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC).hasSize(3);
        d.close();
        assertThat(o.openTerm()).isZero();
        assertThat(o.replicaStatus()).isEmpty();
    }

    @Test
    void aNewerTermOnAnyReplicaFailsTheOpen() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        set.servers.get(2).localConnector(ReplicaSet.EXPORT).connect(5, "other").close();
        ReplicatedOpener o = opener(set.links()).build();
        assertThatThrownBy(() -> o.open(4)).isInstanceOf(FencedException.class).hasMessageContaining("pre-claim")
                .hasMessageContaining("promised term 5");
        assertThat(o.openTerm()).isZero();
    }

    @Test
    void outOfSyncReplicasAreRebuiltInTheBackgroundWithProgress() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        List<RebuildProgress> progress = new CopyOnWriteArrayList<>();
        ReplicatedOpener o = opener(links).rebuildProgress(progress::add).build();
        o.open(1).close(); // a brand-new set needs every replica once (and copies r0 onto them)
        progress.clear();
        links.breakLink("r2");
        ReplicatedDevice d = o.open(2);
        assertThat(d.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        write(d, 0, (byte) 7);
        write(d, 512 << 10, (byte) 9);
        links.heal("r2");
        ControllerTest.waitUntil(() -> o.replicaStatus().stream().allMatch(s -> s.state() == ReplicaState.IN_SYNC));
        assertThat(progress).isNotEmpty().allMatch(p -> p.replica().equals("r2"));
        d.close();
        byte[] r0 = new byte[(int) SIZE];
        byte[] r2 = new byte[(int) SIZE];
        set.disks.get(0).read(ByteBuffer.wrap(r0), 0);
        set.disks.get(2).read(ByteBuffer.wrap(r2), 0);
        assertThat(r2).isEqualTo(r0);
        assertThat(r2[512 << 10]).isEqualTo((byte) 9);
        assertThat(o.runningRebuilds()).isZero();
    }

    @Test
    void releasingTheTermStopsARunningRebuildAndLeavesNoThread() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        List<RebuildProgress> progress = new CopyOnWriteArrayList<>();
        // one byte per second: after its first chunk the rebuild pauses for a very long time
        ReplicatedOpener o = opener(links).rebuildRate(1).rebuildProgress(progress::add).skipInitialSync().build();
        o.open(1).close();
        links.breakLink("r2");
        TermEngine engine = new TermEngine("vol", SIZE, o.capabilities(), o);
        engine.fence(2);
        for (int i = 0; i < 4; i++) {
            write(engine, (long) i * (128 << 10), (byte) (i + 1));
        }
        links.heal("r2");
        ControllerTest.waitUntil(() -> !progress.isEmpty());
        assertThat(o.runningRebuilds()).isEqualTo(1);
        assertThat(o.replicaStatus().get(2).state()).isEqualTo(ReplicaState.REBUILDING);
        engine.release(2);
        assertThat(o.runningRebuilds()).isZero();
        assertThat(o.openTerm()).isZero();
        engine.close();
    }

    @Test
    void oneStateDirectoryServesEveryTermAndThePerTermLayoutOfOlderVersionsIsRemoved() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        Path base = dir.resolve("n1");
        // what an older version left: a writer state per term, the second with r2 out of sync
        for (long term = 1; term <= 2; term++) {
            if (term == 2) {
                links.breakLink("r2");
            }
            Replication.Builder older = Replication.builder().name("old").term(term).writer("n1")
                    .stateDir(base.resolve("term-" + term)).regionSize(64 << 10).skipInitialSync();
            links.connectors.forEach(older::replica);
            try (ReplicatedDevice old = older.open()) {
                write(old, 0, (byte) term);
            }
        }
        links.heal("r2");
        Files.writeString(base.resolve("notes"), "not a term");
        ReplicatedOpener o = opener(links).build();
        try (ReplicatedDevice d = o.open(3)) {
            assertThat(d.status().get(0).state()).isEqualTo(ReplicaState.IN_SYNC);
            write(d, 64 << 10, (byte) 3);
        }
        try (Stream<Path> left = Files.list(base)) {
            assertThat(left.map(p -> p.getFileName().toString()).sorted())
                    .containsExactly("notes", "replication.state");
        }
        // the next terms open on the same directory (the background rebuild of term 3 may or may
        // not have finished: r2 is in sync or rebuilt in term 4 either way)
        try (ReplicatedDevice d = o.open(4)) {
            ControllerTest.waitUntil(() -> o.replicaStatus().stream().allMatch(st -> st.state() == ReplicaState.IN_SYNC));
            ByteBuffer b = ByteBuffer.allocate(1);
            d.read(b, 64 << 10);
            assertThat(b.get(0)).isEqualTo((byte) 3);
        }
        assertThat(base.resolve("term-4")).doesNotExist();
    }

    @Test
    void aDeposedNodesStateOnTheFixedDirectoryDoesNotOverruleItsSuccessor() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links l1 = set.links();
        ReplicatedOpener n1 = opener(l1).rebuildInterval(Duration.ofHours(1)).build();
        n1.open(1).close();
        ReplicatedDevice d1 = n1.open(2);
        l1.breakLink("r2");
        write(d1, 0, (byte) 1); // n1 drops r2 and commits that to its state: (term 2, r2 out of sync)
        assertThat(d1.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        d1.close();
        l1.heal("r2");
        // n2 takes over with every replica, rebuilds r2 and writes
        ReplicatedOpener n2 = ReplicatedOpener.builder().volume("vol").nodeId("n2").replicas(set.links().connectors)
                .stateDir(dir.resolve("n2")).regionSize(64 << 10).rebuildInterval(Duration.ofMillis(20)).build();
        try (ReplicatedDevice d2 = n2.open(3)) {
            ControllerTest.waitUntil(() -> n2.replicaStatus().stream().allMatch(s -> s.state() == ReplicaState.IN_SYNC));
            write(d2, 0, (byte) 3);
        }
        // n1 leads again on its old directory: its term-2 state is older than the term-3 headers
        try (ReplicatedDevice d1again = n1.open(4)) {
            assertThat(d1again.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            ByteBuffer b = ByteBuffer.allocate(4096);
            d1again.read(b, 0);
            assertThat(b.get(0)).isEqualTo((byte) 3);
        }
    }

    @Test
    void inMinInSyncModesEachTermOpensWithoutTheWriterStateOfEarlierTerms() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        ReplicatedOpener o = opener(links).mode(ReplicationMode.minInSync(1)).build();
        try (ReplicatedDevice d = o.open(1)) {
            write(d, 0, (byte) 1);
        }
        // its own state would count (same term as every header) and let it open without r2; but
        // a successor may have written where it cannot see: it must read every replica
        links.breakLink("r2");
        assertThatThrownBy(() -> o.open(2)).hasMessageContaining("every replica must be reachable");
        links.heal("r2");
        try (ReplicatedDevice d = o.open(3)) {
            assertThat(d.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
        }
    }

    @Test
    void writeFailureReportsOnlyAnEngineThatFailedStop() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        ReplicatedOpener o = opener(links).rebuildInterval(Duration.ofHours(1)).build();
        o.open(1).close();
        ReplicatedDevice d = o.open(2);
        write(d, 0, (byte) 1);
        assertThat(o.writeFailure(d)).isEmpty();
        links.breakLink("r2"); // r2 drops out, 2 of 3 remain: the write succeeds, the engine is healthy
        write(d, 0, (byte) 2);
        assertThat(o.writeFailure(d)).isEmpty();
        links.breakLink("r1"); // dropping r1 would leave 1 of 3: the engine stops writing until reopened
        assertThatThrownBy(() -> write(d, 0, (byte) 3)).isInstanceOf(IOException.class);
        assertThat(o.writeFailure(d)).get().asString().contains("reopen");
        d.close();
        assertThat(o.writeFailure(d)).isEmpty(); // released: not a failure
        assertThatThrownBy(() -> write(d, 0, (byte) 4)).isInstanceOf(DeviceClosedException.class);
    }
}

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
    void theStateDirectoriesOfOldTermsArePrunedToTheNewestFew() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicatedOpener o = opener(set.links()).keepTermStates(2).build();
        Files.createDirectories(dir.resolve("n1"));
        Files.writeString(dir.resolve("n1").resolve("notes"), "not a term");
        for (long t = 1; t <= 5; t++) {
            o.open(t).close();
        }
        try (Stream<Path> left = Files.list(dir.resolve("n1"))) {
            assertThat(left.map(p -> p.getFileName().toString()).sorted())
                    .containsExactly("notes", "term-4", "term-5");
        }
        assertThat(dir.resolve("n1").resolve("term-5").resolve("replication.state")).exists();
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

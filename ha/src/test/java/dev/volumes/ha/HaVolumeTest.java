package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.WriteFlag;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicationMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The assembled node ({@link HaVolume}) over real term-fenced replicas in this process and the
 * in-memory election: takeover with the data, and the write-failure health rule end to end (a
 * leader cut off from two of three replicas fails stop, steps down, and a node that can reach them
 * takes over). Every write is recorded in a {@link WriteHistory} and checked.
 */
class HaVolumeTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final int BLOCKS = 32;
    private static final long SIZE = (long) BLOCKS * WriteHistory.BLOCK;

    @TempDir
    Path dir;

    private final InMemoryCoordination group = new InMemoryCoordination();
    private final WriteHistory history = new WriteHistory();
    private final List<HaVolume> volumes = new ArrayList<>();
    private ReplicaSet set;

    @AfterEach
    void tearDown() throws IOException {
        volumes.forEach(HaVolume::close);
        group.close();
        if (set != null) {
            set.close();
        }
    }

    private HaVolume start(String node, ReplicaSet.Links links) {
        ReplicatedOpener replication = ReplicatedOpener.builder().volume("vol").nodeId(node)
                .replicas(links.connectors).mode(ReplicationMode.QUORUM).stateDir(dir.resolve(node))
                .regionSize(64 << 10).writeTimeout(Duration.ofSeconds(5)).rebuildInterval(Duration.ofMillis(50))
                .build();
        HaVolume v = HaVolume.builder().coordinator(group.coordinator(node)).replication(replication).size(SIZE)
                .controller(c -> c.backoff(Duration.ofMillis(5), Duration.ofMillis(50)).recampaignDelay(Duration.ofMillis(10))
                        .writeFailureBackoff(Duration.ofMillis(50), Duration.ofSeconds(10))
                        .observer(e -> {
                            if (e.to() == ControllerState.LEADER) {
                                history.claimed(node, e.term()); // after the open returned: conservative
                            }
                        }))
                .start();
        volumes.add(v);
        return v;
    }

    /** One write through the node's gated device, recorded. */
    private boolean write(HaVolume v, String node, int block) {
        WriteHistory.Write w = history.begin(node, v.status().term(), block);
        try {
            v.device().write(w.payload(), w.offset(), WriteFlag.FUA);
            history.acked(w);
            return true;
        } catch (IOException | RuntimeException e) {
            history.failed(w, e);
            return false;
        }
    }

    private void checkHistory(HaVolume leader) throws IOException {
        ByteBuffer content = ByteBuffer.allocate((int) SIZE);
        leader.device().read(content, 0);
        content.flip();
        assertThat(history.check(content, BLOCKS)).as("%s", history).isEmpty();
        for (ReplicaStatus s : leader.replicaStatus()) {
            if (s.state() == ReplicaState.IN_SYNC) {
                ByteBuffer raw = ByteBuffer.allocate((int) SIZE);
                set.disks.get(Integer.parseInt(s.id().substring(1))).read(raw, 0);
                assertThat(raw.flip()).as("replica %s", s.id()).isEqualTo(content.rewind());
            }
        }
    }

    @Test
    void aFollowerTakesOverWithEveryAcknowledgedWrite() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        HaVolume a = start("a", set.links());
        assertThat(a.controller().awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        HaVolume b = start("b", set.links());
        for (int i = 0; i < 40; i++) {
            assertThat(write(a, "a", i % BLOCKS)).isTrue();
        }
        assertThat(a.replicaStatus()).hasSize(3);
        assertThat(b.replicaStatus()).isEmpty();
        assertThatThrownBy(() -> b.device().write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class);

        group.expire("a");
        assertThat(b.controller().awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        for (int i = 0; i < 10; i++) {
            assertThat(write(b, "b", (i * 7) % BLOCKS)).isTrue();
        }
        ControllerTest.waitUntil(() -> a.replicaStatus().isEmpty()); // released on a's worker
        checkHistory(b);
        assertThat(b.counters().promotions()).isEqualTo(1);
    }

    @Test
    void aLeaderThatCanNoLongerKeepAQuorumInSyncStepsDownAndAnotherNodeTakesOver() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links linksA = set.links();
        HaVolume a = start("a", linksA);
        assertThat(a.controller().awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        HaVolume b = start("b", set.links());
        ControllerTest.waitUntil(() -> group.coordinator("a").members().contains("b"));
        for (int i = 0; i < 20; i++) {
            assertThat(write(a, "a", i % BLOCKS)).isTrue();
        }
        // a loses its links to r1 and r2 (b still reaches them): its engine can keep only r0 in
        // sync, fails stop ("writes refused until reopened") and would hold the lease for ever
        linksA.breakLink("r1");
        linksA.breakLink("r2");
        assertThat(write(a, "a", 3)).isFalse();
        assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER);
        assertThat(a.counters().writePathFailures()).isEqualTo(1);

        assertThat(b.controller().awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        long term = b.status().term();
        assertThat(term).isGreaterThan(1);
        for (int i = 0; i < 20; i++) {
            assertThat(write(b, "b", (i * 5) % BLOCKS)).isTrue();
        }
        assertThat(write(a, "a", 4)).isFalse(); // the gate
        assertThat(set.promised(1)).isEqualTo(term);
        ControllerTest.waitUntil(() -> b.replicaStatus().stream().allMatch(s -> s.state() == ReplicaState.IN_SYNC));
        checkHistory(b);
    }

    @Test
    void aLoneLeaderWhoseReplicationFailedIsReelectedWithAFreshTermOnceTheReplicasAreBack() throws Exception {
        set = new ReplicaSet(3, SIZE, dir);
        ReplicaSet.Links links = set.links();
        HaVolume a = start("a", links);
        assertThat(a.controller().awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        assertThat(write(a, "a", 0)).isTrue();
        links.breakLink("r1");
        links.breakLink("r2");
        assertThat(write(a, "a", 1)).isFalse();
        assertThat(a.status().state()).isNotEqualTo(ControllerState.LEADER);
        links.heal("r1");
        links.heal("r2");
        ControllerTest.waitUntil(() -> a.status().leading() && a.status().term() > 1);
        assertThat(write(a, "a", 2)).isTrue();
        assertThat(a.counters().writePathFailures()).isEqualTo(1);
        checkHistory(a);
    }
}

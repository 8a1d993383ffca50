package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Split brain: an old writer that is still running while a new writer claims the replicas with a
 * higher term. In-process (replica servers' local connectors); the NBD version is in
 * ReplicaNbdIT.
 */
class FencingTest {

    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<CountingDevice> disks = new ArrayList<>();

    private void startServers(int n) throws IOException {
        for (int i = 0; i < n; i++) {
            CountingDevice d = new CountingDevice(MemoryDevice.create("r" + i, SIZE + ReplicaHeader.AREA));
            disks.add(d);
            servers.add(ReplicaServer.builder().export("vol", d).stateDir(dir.resolve("server" + i)).start());
        }
    }

    @AfterEach
    void stop() throws IOException {
        for (ReplicaServer s : servers) {
            s.close();
        }
    }

    private Replication.Builder writer(long term, String name, boolean... reachable) {
        Replication.Builder b = Replication.builder().name(name).term(term).writer(name)
                .stateDir(dir.resolve("state-" + name)).writeTimeout(Duration.ofSeconds(5)).skipInitialSync();
        for (int i = 0; i < servers.size(); i++) {
            ReplicaConnector c = servers.get(i).localConnector("vol");
            if (reachable.length > i && !reachable[i]) {
                c = new ReplicaConnector() {
                    @Override
                    public Device connect(long term, String writer) throws IOException {
                        throw new IOException("partitioned");
                    }

                    @Override
                    public String describe() {
                        return "partitioned";
                    }
                };
            }
            b.replica("r" + i, c);
        }
        return b;
    }

    @Test
    void oldWriterIsRefusedEverywhereOnceANewTermIsClaimedOnEveryReplica() throws Exception {
        startServers(3);
        try (ReplicatedDevice a = writer(1, "nodeA").open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(4096, 1)), 0);
            try (ReplicatedDevice b = writer(2, "nodeB").open()) {
                long[] before = disks.stream().mapToLong(d -> d.mutations.get()).toArray();
                for (int i = 0; i < 20; i++) {
                    long at = i * 4096L;
                    assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(4096, 2)), at))
                            .isInstanceOf(FencedException.class)
                            .hasMessageContaining("promised term 2");
                }
                assertThatThrownBy(a::sync).isInstanceOf(FencedException.class);
                assertThat(disks.stream().mapToLong(d -> d.mutations.get()).toArray()).isEqualTo(before);
                // the new writer works and sees the old writer's acknowledged data
                ByteBuffer got = ByteBuffer.allocate(4096);
                b.read(got, 0);
                assertThat(got.array()).isEqualTo(Fixture.pattern(4096, 1));
                b.write(ByteBuffer.wrap(Fixture.pattern(4096, 3)), 0);
            }
        }
        assertThat(servers.get(0).promisedTerm("vol")).isEqualTo(2);
    }

    @Test
    void oldWriterLosesItsQuorumWhenANewTermIsClaimedOnAMajority() throws Exception {
        startServers(3);
        try (ReplicatedDevice a = writer(1, "nodeA").open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(4096, 1)), 0);
            // nodeB reaches r0 and r1 only
            try (ReplicatedDevice b = writer(2, "nodeB", true, true, false).open()) {
                assertThat(b.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
                long r0 = disks.get(0).mutations.get();
                long r1 = disks.get(1).mutations.get();
                for (int i = 0; i < 10; i++) {
                    assertThatThrownBy(() -> a.write(ByteBuffer.allocate(4096), 0)).isInstanceOf(IOException.class);
                }
                assertThatThrownBy(() -> a.write(ByteBuffer.allocate(4096), 0)).isInstanceOf(FencedException.class);
                assertThat(disks.get(0).mutations.get()).isEqualTo(r0);
                assertThat(disks.get(1).mutations.get()).isEqualTo(r1);
                // r2, which nodeB could not reach, may hold the refused write, but nodeB's
                // generation is ahead of it: it is stale and gets rebuilt from the majority
                b.write(ByteBuffer.wrap(Fixture.pattern(4096, 5)), 8192);
                b.sync();
            }
            try (ReplicatedDevice b2 = writer(2, "nodeB").open()) {
                assertThat(b2.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
                b2.rebuild("r2");
                byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
                assertThat(Fixture.readAll(disks.get(2), SIZE)).isEqualTo(r0);
                assertThat(Fixture.readAll(disks.get(1), SIZE)).isEqualTo(r0);
            }
        }
    }

    @Test
    void noWriteOfTheOldWriterStartedAfterTheClaimIsAcknowledgedOrLands() throws Exception {
        startServers(3);
        AtomicBoolean claimed = new AtomicBoolean();
        AtomicLong lateAcks = new AtomicLong();
        try (ReplicatedDevice a = writer(1, "nodeA").open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> writers = new ArrayList<>();
            AtomicBoolean stop = new AtomicBoolean();
            try {
            for (int t = 0; t < 4; t++) {
                int id = t;
                writers.add(ex.submit(() -> {
                    for (int i = 0; !stop.get(); i++) {
                        boolean after = claimed.get();
                        try {
                            a.write(ByteBuffer.wrap(Fixture.pattern(4096, i)), (id * 64 + i % 64) * 4096L);
                            if (after) {
                                lateAcks.incrementAndGet();
                            }
                        } catch (IOException e) {
                            // refused: expected once fenced; do not spin on the carrier threads
                            Thread.sleep(1);
                        }
                    }
                    return null;
                }));
            }
            Thread.sleep(50);
            try (ReplicatedDevice b = writer(2, "nodeB").open()) {
                claimed.set(true);
                long[] before = disks.stream().mapToLong(d -> d.mutations.get()).toArray();
                Thread.sleep(100);
                stop.set(true);
                for (Future<?> w : writers) {
                    w.get(30, TimeUnit.SECONDS);
                }
                assertThat(disks.stream().mapToLong(d -> d.mutations.get()).toArray()).isEqualTo(before);
                assertThat(lateAcks).hasValue(0);
                byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
                assertThat(Fixture.readAll(disks.get(1), SIZE)).isEqualTo(r0);
                assertThat(Fixture.readAll(disks.get(2), SIZE)).isEqualTo(r0);
            }
            } finally {
                stop.set(true);
            }
        }
    }

    @Test
    void openWithAnOlderTermThanAReplicaPromisedIsFenced() throws Exception {
        startServers(3);
        writer(5, "nodeB").open().close();
        assertThatThrownBy(() -> writer(4, "nodeA").open())
                .isInstanceOf(FencedException.class)
                .hasMessageContaining("promised term 5")
                .hasMessageContaining("refusing term 4");
    }

    @Test
    void aDeposedWriterReportsTheFenceAsItsWriteFailureOnceItRanIntoIt() throws Exception {
        startServers(3);
        try (ReplicatedDevice a = writer(1, "nodeA").open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(4096, 1)), 0);
            assertThat(a.writeFailure()).isEmpty();
            try (ReplicatedDevice b = writer(2, "nodeB").open()) {
                assertThat(a.writeFailure()).isEmpty(); // it has not run into the claim yet
                assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(4096, 2)), 0))
                        .isInstanceOf(FencedException.class);
                assertThat(a.writeFailure()).get().isInstanceOf(FencedException.class).asString()
                        .contains("promised term 2");
                assertThat(b.writeFailure()).isEmpty();
            }
        }
    }
}

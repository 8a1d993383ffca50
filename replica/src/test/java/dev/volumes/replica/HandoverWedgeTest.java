package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
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
 * The handover wedge, deterministically and without ZooKeeper: a successor claims two of three
 * replicas, the deposed writer's in-flight write then fails on those two as a <em>dropped
 * connection</em> (as over NBD, where a newer claim cuts the old connection), and the successor
 * must still be able to open the set. Before the fix the deposed writer published a new
 * generation to the third replica alone and every open of the successor failed.
 */
class HandoverWedgeTest {

    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<MemoryDevice> disks = new ArrayList<>();

    private void startServers(int n) throws IOException {
        for (int i = 0; i < n; i++) {
            MemoryDevice d = MemoryDevice.create("r" + i, SIZE + ReplicaHeader.AREA);
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

    /** Like NBD: once superseded, requests fail as a cut connection, not as a fencing refusal. */
    private static ReplicaConnector cutOnClaim(ReplicaConnector local) {
        return new ReplicaConnector() {
            @Override
            public Device connect(long term, String writer) throws IOException {
                return new ForwardingDevice(local.connect(term, writer)) {
                    private IOException cut(FencedException e) {
                        return new IOException("connection closed by the server", new java.io.EOFException());
                    }

                    @Override
                    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                        try {
                            super.write(src, offset, flag);
                        } catch (FencedException e) {
                            throw cut(e);
                        }
                    }

                    @Override
                    public void write(ByteBuffer src, long offset) throws IOException {
                        write(src, offset, WriteFlag.NONE);
                    }

                    @Override
                    public void read(ByteBuffer dst, long offset) throws IOException {
                        try {
                            super.read(dst, offset);
                        } catch (FencedException e) {
                            throw cut(e);
                        }
                    }

                    @Override
                    public void sync() throws IOException {
                        try {
                            super.sync();
                        } catch (FencedException e) {
                            throw cut(e);
                        }
                    }
                };
            }

            @Override
            public String describe() {
                return "cut-on-claim " + local.describe();
            }
        };
    }

    private Replication.Builder writer(long term, String name) {
        Replication.Builder b = Replication.builder().name(name).term(term).writer(name)
                .stateDir(dir.resolve("state-" + name)).writeTimeout(Duration.ofSeconds(5)).skipInitialSync();
        for (int i = 0; i < servers.size(); i++) {
            b.replica("r" + i, cutOnClaim(servers.get(i).localConnector("vol")));
        }
        return b;
    }

    private static long headerGeneration(MemoryDevice d) throws IOException {
        return ReplicaHeader.read(d, d.name()).generation();
    }

    @Test
    void aDeposedWritersDroppedConnectionsDoNotWedgeTheSuccessor() throws Exception {
        startServers(3);
        byte[] acked = Fixture.pattern(4096, 1);
        long before;
        try (ReplicatedDevice a = writer(1, "a").open()) {
            a.write(ByteBuffer.wrap(acked), 0);
            before = a.generation();
            // the successor claims r0 and r1 (not yet r2): a's connections to them are cut
            servers.get(0).localConnector("vol").connect(2, "b").close();
            servers.get(1).localConnector("vol").connect(2, "b").close();
            assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(4096, 2)), 8192))
                    .isInstanceOf(FencedException.class);
            assertThat(headerGeneration(disks.get(2)))
                    .as("the deposed writer published nothing to the lone replica left").isEqualTo(before);
        }
        try (ReplicatedDevice b = writer(2, "b").open()) {
            assertThat(b.status()).allMatch(s -> s.state() == ReplicaState.IN_SYNC);
            assertThat(Fixture.readAll(b, 4096)).isEqualTo(acked);
            b.write(ByteBuffer.wrap(Fixture.pattern(4096, 3)), 8192);
        }
    }

    /**
     * The state the bug left behind (and a partly failed header publication can still leave): the
     * freshest generation on one replica of three, with extra unacknowledged data there. A QUORUM
     * open must catch the two stale replicas up from it instead of failing.
     */
    @Test
    void aFreshestGenerationOnAMinorityIsCaughtUpNotWedged() throws Exception {
        startServers(3);
        byte[] acked = Fixture.pattern(4096, 1);
        try (ReplicatedDevice a = writer(1, "a").open()) {
            a.write(ByteBuffer.wrap(acked), 0);
        }
        ReplicaHeader h = ReplicaHeader.read(disks.get(2), "r2");
        byte[] bitmap = h.bitmap().clone();
        long region = h.regionSize();
        long at = 65536; // region 0 (the set has one 1-MiB region)
        bitmap[(int) (at / region / 8)] |= (byte) (1 << (int) (at / region % 8));
        byte[] extra = Fixture.pattern(4096, 9);
        disks.get(2).write(ByteBuffer.wrap(extra), at);
        new ReplicaHeader(h.term(), h.generation() + 1, h.dataSize(), region, bitmap).write(disks.get(2));

        try (ReplicatedDevice b = writer(2, "b").open()) {
            assertThat(b.status()).allMatch(s -> s.state() == ReplicaState.IN_SYNC);
            assertThat(Fixture.readAll(b, 4096)).isEqualTo(acked);
            byte[] r0 = Fixture.readAll(disks.get(0), SIZE);
            for (int i = 1; i < 3; i++) {
                assertThat(Fixture.readAll(disks.get(i), SIZE)).as("r" + i + " vs r0").isEqualTo(r0);
            }
            b.write(ByteBuffer.wrap(Fixture.pattern(4096, 3)), 8192);
        }
    }

    /** An open that cannot assemble the required replicas changes no header. */
    @Test
    void aFailingOpenBumpsNoGeneration() throws Exception {
        startServers(3);
        try (ReplicatedDevice a = writer(1, "a").open()) {
            a.write(ByteBuffer.wrap(Fixture.pattern(4096, 1)), 0);
        }
        // r0 and r1 were replaced by blank disks (generation 0, need a full copy): only r2 can be
        // in sync, and QUORUM needs 2
        for (int i = 0; i < 2; i++) {
            new ReplicaHeader(0, 0, SIZE, 0, new byte[0]).write(disks.get(i));
        }
        long g = headerGeneration(disks.get(2));
        for (long attempt = 0; attempt < 3; attempt++) {
            long term = 2 + attempt;
            assertThatThrownBy(() -> writer(term, "b").open()).isInstanceOf(IOException.class)
                    .hasMessageContaining("1 of 3 replicas in sync");
        }
        assertThat(headerGeneration(disks.get(2))).as("r2's generation after three failed opens").isEqualTo(g);
    }
}

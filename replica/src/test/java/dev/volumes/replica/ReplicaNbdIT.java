package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.testkit.CuttingProxy;
import dev.volumes.testkit.FaultInjector.Op;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The "must show" scenarios with real sockets: three pool volumes, each behind its own
 * {@link ReplicaServer} on loopback (one through a cuttable proxy), a writer engine reaching all
 * of them over NBD. After every scenario the in-sync replicas are byte-identical and hold every
 * acknowledged write (model check).
 */
class ReplicaNbdIT {

    private static final long DATA = 4 << 20;
    private static final int BLOCK = 4096;
    private static final int THREADS = 4;

    @TempDir
    Path dir;

    private final PoolVolumes volumes = new PoolVolumes(DATA, 64 << 20);
    private final ReplicaServer[] servers = new ReplicaServer[3];
    private final int[] ports = new int[3];
    private CuttingProxy proxy;
    private final byte[] model = new byte[(int) DATA];

    private void startReplicas() throws IOException {
        for (int i = 0; i < 3; i++) {
            volumes.add();
            startServer(i, 0);
        }
        proxy = new CuttingProxy(servers[2].address());
    }

    private void startServer(int i, int port) throws IOException {
        servers[i] = ReplicaServer.builder().listen(new InetSocketAddress("127.0.0.1", port))
                .export("vol", volumes.fault(i)).stateDir(dir.resolve("server" + i)).start();
        ports[i] = servers[i].address().getPort();
    }

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        for (ReplicaServer s : servers) {
            if (s != null) {
                s.close();
            }
        }
        volumes.close();
    }

    private Replication.Builder writer(long term, Duration writeTimeout) {
        Duration reconnect = Duration.ofMillis(300);
        return Replication.builder().name("vol").term(term).writer("node" + term)
                .stateDir(dir.resolve("writer-state")).writeTimeout(writeTimeout).regionSize(64 << 10)
                .replica("r0", ReplicaConnector.nbd("127.0.0.1", ports[0], "vol", Duration.ofSeconds(30), reconnect))
                .replica("r1", ReplicaConnector.nbd("127.0.0.1", ports[1], "vol", Duration.ofSeconds(30), reconnect))
                .replica("r2", ReplicaConnector.nbd("127.0.0.1", proxy.port(), "vol", Duration.ofSeconds(30),
                        reconnect));
    }

    /** Writers on stripes of 4 KiB blocks until {@code stop}; every acknowledged write goes to the model. */
    private List<Future<?>> workload(ExecutorService ex, ReplicatedDevice dev, AtomicBoolean stop, long seed) {
        List<Future<?>> fs = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int stripe = t;
            Random rnd = new Random(seed + t);
            fs.add(ex.submit(() -> {
                int blocks = (int) (DATA / BLOCK);
                while (!stop.get()) {
                    int block = rnd.nextInt(blocks / THREADS) * THREADS + stripe;
                    byte[] data = Fixture.pattern(BLOCK, rnd.nextLong());
                    dev.write(ByteBuffer.wrap(data), (long) block * BLOCK);
                    synchronized (model) {
                        System.arraycopy(data, 0, model, block * BLOCK, BLOCK);
                    }
                }
                return null;
            }));
        }
        return fs;
    }

    private void finish(List<Future<?>> fs, AtomicBoolean stop) throws Exception {
        stop.set(true);
        for (Future<?> f : fs) {
            f.get(60, TimeUnit.SECONDS);
        }
    }

    private void assertConsistent(ReplicatedDevice dev) throws IOException {
        int inSync = 0;
        for (ReplicaStatus s : dev.status()) {
            if (s.state() == ReplicaState.IN_SYNC) {
                inSync++;
                byte[] bytes = Fixture.readAll(volumes.volume(Integer.parseInt(s.id().substring(1))), DATA);
                if (!Arrays.equals(bytes, model)) {
                    throw new AssertionError("in-sync replica " + s.id() + " differs from the model at byte "
                            + Arrays.mismatch(bytes, model) + "; status " + dev.status());
                }
            }
        }
        assertThat(inSync).isGreaterThanOrEqualTo(2);
        assertThat(Fixture.readAll(dev, DATA)).isEqualTo(model);
    }

    private void rebuildAllOut(ReplicatedDevice dev) throws IOException {
        for (ReplicaStatus s : dev.status()) {
            if (s.state() == ReplicaState.OUT_OF_SYNC) {
                dev.rebuild(s.id());
            }
        }
        assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
    }

    @Test
    void killAndRestartAReplicaServerMidWorkloadThenRebuildBesideLiveWrites() throws Exception {
        startReplicas();
        AtomicBoolean stop = new AtomicBoolean();
        try (ReplicatedDevice dev = writer(1, Duration.ofSeconds(5)).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = workload(ex, dev, stop, Seeds.forTest("ReplicaNbdIT#kill"));
            Thread.sleep(300);
            int port = ports[1];
            servers[1].close();
            Thread.sleep(1000);
            startServer(1, port);
            Thread.sleep(300);
            assertThat(dev.status().get(1).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            // the rebuild runs while the writers keep going
            RebuildReport r = dev.rebuild("r1");
            assertThat(r.delta()).isTrue();
            Thread.sleep(200);
            finish(fs, stop);
            assertConsistent(dev);
            rebuildAllOut(dev);
            assertConsistent(dev);
            byte[] r0 = Fixture.readAll(volumes.volume(0), DATA);
            assertThat(Fixture.readAll(volumes.volume(1), DATA)).isEqualTo(r0);
            assertThat(Fixture.readAll(volumes.volume(2), DATA)).isEqualTo(r0);
        } finally {
            stop.set(true);
        }
    }

    @Test
    void aStalledReplicaTimesOutGoesOutOfSyncAndTheEngineDoesNotHang() throws Exception {
        startReplicas();
        AtomicBoolean stop = new AtomicBoolean();
        try (ReplicatedDevice dev = writer(1, Duration.ofMillis(1500)).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = workload(ex, dev, stop, Seeds.forTest("ReplicaNbdIT#stall"));
            Thread.sleep(200);
            volumes.fault(0).on(Op.WRITE).delay(Duration.ofSeconds(5));
            Thread.sleep(3000);
            finish(fs, stop);
            ReplicaStatus r0 = dev.status().get(0);
            assertThat(r0.state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(r0.reason()).contains("no answer within 1500 ms");
            assertConsistent(dev);
            volumes.fault(0).clearRules();
            Thread.sleep(5500); // the delayed writes drain from the replica
            dev.rebuild("r0");
            assertConsistent(dev);
        } finally {
            stop.set(true);
        }
    }

    @Test
    void cutConnectionsMidWorkload() throws Exception {
        startReplicas();
        AtomicBoolean stop = new AtomicBoolean();
        try (ReplicatedDevice dev = writer(1, Duration.ofSeconds(5)).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = workload(ex, dev, stop, Seeds.forTest("ReplicaNbdIT#cut"));
            for (int i = 0; i < 5; i++) {
                Thread.sleep(150);
                proxy.cutAll();
            }
            Thread.sleep(200);
            finish(fs, stop);
            assertConsistent(dev);
            rebuildAllOut(dev);
            assertConsistent(dev);
        } finally {
            stop.set(true);
        }
    }

    @Test
    void restartTheEngineWithAStaleReplicaPresent() throws Exception {
        startReplicas();
        AtomicBoolean stop = new AtomicBoolean();
        try (ReplicatedDevice dev = writer(1, Duration.ofSeconds(5)).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = workload(ex, dev, stop, Seeds.forTest("ReplicaNbdIT#restart"));
            Thread.sleep(200);
            volumes.fault(0).on(Op.WRITE).times(1).fail(FaultInjector.Fault.EIO);
            Thread.sleep(300);
            finish(fs, stop);
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
        } finally {
            stop.set(true);
        }
        // the preferred replica r0 is stale now; a restarted engine must never read it
        try (ReplicatedDevice dev = writer(1, Duration.ofSeconds(5)).open()) {
            assertThat(dev.status().get(0).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertConsistent(dev);
            assertThat(dev.rebuild("r0").delta()).isTrue();
            assertConsistent(dev);
        }
    }

    /**
     * A replica whose disk died is replaced by a new pool volume behind a new server (through
     * {@code replace(id, connector)}): it gets a full rebuild beside live writes, ends byte-identical,
     * and the old volume is never read or written again.
     */
    @Test
    void aDeadNbdReplicaIsReplacedByANewOneAndFullyRebuilt() throws Exception {
        startReplicas();
        FaultInjector freshCounter = volumes.add();
        Device fresh = volumes.volume(3);
        AtomicBoolean stop = new AtomicBoolean();
        try (ReplicaServer replacement = ReplicaServer.builder().export("vol", freshCounter)
                .stateDir(dir.resolve("server3")).start();
                ReplicatedDevice dev = writer(1, Duration.ofSeconds(5)).skipInitialSync().open();
                ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = workload(ex, dev, stop, Seeds.forTest("ReplicaNbdIT#replace"));
            Thread.sleep(200);
            // r2's disk dies: every read and write fails; the server itself stays up
            volumes.fault(2).on(Op.READ, Op.WRITE, Op.WRITE_ZEROES, Op.SYNC).fail(FaultInjector.Fault.EIO);
            for (int i = 0; i < 1000 && dev.status().get(2).state() != ReplicaState.OUT_OF_SYNC; i++) {
                Thread.sleep(10); // the next write drops it
            }
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            dev.replace("r2", ReplicaConnector.nbd("127.0.0.1", replacement.address().getPort(), "vol"));
            RebuildReport r = dev.rebuild("r2"); // beside the live writers
            assertThat(r.delta()).isFalse();
            assertThat(r.bytesCopied()).isEqualTo(DATA);
            // Counted only now: requests the old r2's server had already read when replace abandoned
            // its session may still finish there (nothing new is sent: AbandonedSessionIT proves
            // that deterministically); a full rebuild later they are long done.
            long[] oldCalls = {volumes.fault(2).calls(Op.READ), volumes.fault(2).calls(Op.WRITE),
                volumes.fault(2).calls(Op.WRITE_ZEROES), volumes.fault(2).calls(Op.EXTENTS)};
            Thread.sleep(200);
            finish(fs, stop);
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            assertThat(replacement.promisedTerm("vol")).isEqualTo(1);
            byte[] model0 = Fixture.readAll(volumes.volume(0), DATA);
            assertThat(Arrays.mismatch(model0, model)).as("r0 vs model").isEqualTo(-1);
            assertThat(Arrays.mismatch(Fixture.readAll(fresh, DATA), model)).as("new r2 vs model").isEqualTo(-1);
            assertThat(ReplicaHeader.read(fresh, "r2").generation()).isEqualTo(dev.generation());
            assertThat(Fixture.readAll(dev, DATA)).isEqualTo(model);
            assertThat(freshCounter.calls(Op.WRITE)).isPositive();
            assertThat(new long[] {volumes.fault(2).calls(Op.READ), volumes.fault(2).calls(Op.WRITE),
                volumes.fault(2).calls(Op.WRITE_ZEROES), volumes.fault(2).calls(Op.EXTENTS)})
                    .as("reads, writes, write-zeroes, extents on the old r2 after replace").isEqualTo(oldCalls);
        } finally {
            stop.set(true);
        }
    }

    @Test
    void oldWriterIsRefusedOverNbdOnceANewTermIsClaimed() throws Exception {
        startReplicas();
        try (ReplicatedDevice a = writer(1, Duration.ofSeconds(5)).skipInitialSync().open()) {
            byte[] data = Fixture.pattern(BLOCK, 1);
            a.write(ByteBuffer.wrap(data), 0);
            System.arraycopy(data, 0, model, 0, BLOCK);
            try (ReplicatedDevice b = Replication.builder().name("vol").term(2).writer("node2")
                    .stateDir(dir.resolve("writer2-state")).regionSize(64 << 10)
                    .replica("r0", ReplicaConnector.nbd("127.0.0.1", ports[0], "vol"))
                    .replica("r1", ReplicaConnector.nbd("127.0.0.1", ports[1], "vol"))
                    .replica("r2", ReplicaConnector.nbd("127.0.0.1", ports[2], "vol")).open()) {
                byte[][] before = new byte[3][];
                for (int i = 0; i < 3; i++) {
                    before[i] = Fixture.readAll(volumes.volume(i), DATA + ReplicaHeader.AREA);
                }
                for (int i = 0; i < 10; i++) {
                    long at = (i + 1) * (long) BLOCK;
                    assertThatThrownBy(() -> a.write(ByteBuffer.wrap(Fixture.pattern(BLOCK, 9)), at))
                            .isInstanceOf(IOException.class);
                }
                assertThatThrownBy(() -> a.write(ByteBuffer.allocate(BLOCK), 0))
                        .isInstanceOf(FencedException.class).hasMessageContaining("promised term 2");
                for (int i = 0; i < 3; i++) {
                    assertThat(Fixture.readAll(volumes.volume(i), DATA + ReplicaHeader.AREA))
                            .as("replica r%d after the old writer's refused writes", i).isEqualTo(before[i]);
                }
                assertThat(servers[0].promisedTerm("vol")).isEqualTo(2);
                assertConsistent(b);
            }
        }
    }
}

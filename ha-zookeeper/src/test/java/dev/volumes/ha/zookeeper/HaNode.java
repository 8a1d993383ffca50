package dev.volumes.ha.zookeeper;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.ha.Controller;
import dev.volumes.ha.ControllerEvent;
import dev.volumes.ha.ControllerState;
import dev.volumes.ha.ControllerStatus;
import dev.volumes.ha.Coordinator;
import dev.volumes.ha.ReadPolicy;
import dev.volumes.ha.ReplicatedOpener;
import dev.volumes.ha.TermEngine;
import dev.volumes.ha.WriteHistory;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.ReplicationMode;
import dev.volumes.testkit.CuttingProxy;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One node of the end-to-end tests, wired as a deployment would be: a ZooKeeper coordinator
 * (reaching ZooKeeper through its own cuttable {@link TcpProxy}), a {@link ReplicatedOpener} that
 * reaches the three replica servers over NBD through the node's own {@link CuttingProxy}s, a
 * {@link TermEngine} on it (the storage fence), a {@link Controller}, the gated device, and a
 * writer that writes through the gate while the node leads, recording every write in the shared
 * {@link WriteHistory}. The test-only part is a thin wrapper around each term's device: it stamps
 * acknowledgements with the term that performed them, can keep a released device open (a zombie)
 * and can abandon it (a hard kill: never closed, its writer state never committed).
 */
final class HaNode implements AutoCloseable {

    static final int BLOCKS = 64;
    static final long VOLUME = (long) BLOCKS * WriteHistory.BLOCK;

    final String id;
    final TcpProxy proxy;
    final List<CuttingProxy> replicaProxies = new ArrayList<>();
    final ReplicatedOpener replication;
    final Coordinator coordinator;
    final TermEngine engine;
    final Controller controller;
    final Device gated;
    private final WriteHistory history;
    private final ThreadLocal<Long> lastTerm = ThreadLocal.withInitial(() -> 0L);
    /** Devices a "zombie" node kept open after its controller released them. */
    final List<Opened> retained = new CopyOnWriteArrayList<>();
    volatile boolean keepReleasedOpen;
    /** Set by a hard kill: released devices are abandoned, not closed. */
    private volatile boolean abandon;
    private final List<Opened> opened = new CopyOnWriteArrayList<>();
    volatile Opened current;
    volatile long demotedNanos;
    final List<ControllerEvent> events = new CopyOnWriteArrayList<>();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicBoolean stopZombies = new AtomicBoolean();
    private final List<Thread> zombies = new CopyOnWriteArrayList<>();
    private final Random zombieRandom;
    private final Thread writer;

    record Opened(long term, ReplicatedDevice device) {}

    HaNode(String id, InetSocketAddress zooKeeper, Duration sessionTimeout, List<InetSocketAddress> replicaServers,
            Path stateDir, WriteHistory history, long seed) throws IOException {
        this.id = id;
        this.history = history;
        this.proxy = new TcpProxy(zooKeeper);
        ReplicatedOpener.Builder rb = ReplicatedOpener.builder().volume("vol0").nodeId(id)
                .mode(ReplicationMode.QUORUM).stateDir(stateDir).regionSize(64 << 10)
                .writeTimeout(Duration.ofSeconds(2)).rebuildInterval(Duration.ofMillis(200));
        for (int i = 0; i < replicaServers.size(); i++) {
            CuttingProxy p = new CuttingProxy(replicaServers.get(i));
            replicaProxies.add(p);
            rb.replica("r" + i, Connectors.to(p.port(), "vol0"));
        }
        this.replication = rb.build();
        this.coordinator = ZooKeeperCoordination.builder().connectString(proxy.connectString())
                .sessionTimeout(sessionTimeout).connectionTimeout(Duration.ofMillis(1000)).group("/vol0").nodeId(id)
                .build();
        this.engine = new TermEngine("vol0", VOLUME, replication.capabilities(), new TermEngine.Opener() {
            @Override
            public Device open(long term) throws IOException {
                return HaNode.this.open(term);
            }

            @Override
            public Optional<String> writeFailure(Device device) {
                return device instanceof TermDevice t ? replication.writeFailure(t.opened.device())
                        : Optional.empty();
            }
        });
        this.controller = Controller.builder().coordinator(coordinator).fencer(engine)
                .backoff(Duration.ofMillis(20), Duration.ofMillis(500)).maxFenceAttempts(5)
                .recampaignDelay(Duration.ofMillis(50)).writeFailureBackoff(Duration.ofMillis(100), Duration.ofSeconds(2))
                .observer(e -> {
                    events.add(e);
                    if (e.to() == ControllerState.FOLLOWER && e.from() != ControllerState.FOLLOWER) {
                        demotedNanos = System.nanoTime();
                    }
                }).start();
        this.gated = controller.gate(engine, ReadPolicy.LEADER_ONLY);
        Random random = new Random(seed);
        this.zombieRandom = new Random(~seed);
        this.writer = Thread.ofVirtual().name("writer-" + id).start(() -> writeLoop(random));
    }

    private Device open(long term) throws IOException {
        ReplicatedDevice device = replication.open(term);
        history.claimed(id, term);
        Opened o = new Opened(term, device);
        opened.add(o);
        current = o;
        return new TermDevice(o);
    }

    /** The term's device as the engine sees it: stamps acknowledgements, and can be kept or abandoned at release. */
    private final class TermDevice extends ForwardingDevice {
        final Opened opened;

        TermDevice(Opened opened) {
            super(opened.device());
            this.opened = opened;
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            super.write(src, offset, flag);
            lastTerm.set(opened.term());
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            super.write(src, offset);
            lastTerm.set(opened.term());
        }

        @Override
        public void close() throws IOException {
            if (abandon) {
                return; // a dead process closes nothing
            }
            if (keepReleasedOpen) {
                retained.add(opened); // the zombie keeps its replica sessions open
            } else {
                super.close();
            }
        }
    }

    private void writeLoop(Random random) {
        while (!stop.get()) {
            ControllerStatus s = controller.status();
            if (!s.leading()) {
                pause(2);
                continue;
            }
            WriteHistory.Write w = history.begin(id, s.term(), random.nextInt(BLOCKS));
            try {
                gated.write(w.payload(), w.offset(), WriteFlag.FUA);
                history.acked(w, lastTerm.get());
                pause(1); // a steady client, not a flood: keeps the history small
            } catch (IOException | RuntimeException e) {
                history.failed(w, e);
                pause(1);
            }
        }
    }

    /**
     * Starts {@code threads} zombie writers that write flat out through {@code old}, behind the
     * gate's back (pausing only after a refused write, to keep the history small).
     */
    void startZombies(Opened old, int threads) {
        for (int i = 0; i < threads; i++) {
            zombies.add(Thread.ofVirtual().name("zombie-" + id + "-" + i).start(() -> zombieLoop(old)));
        }
    }

    private void zombieLoop(Opened old) {
        while (!stopZombies.get()) {
            int block;
            synchronized (zombieRandom) {
                block = zombieRandom.nextInt(BLOCKS);
            }
            if (!zombieWrite(old, block)) {
                pause(1);
            }
        }
    }

    /** Stops the zombie writers (their writes are all in the history). */
    void stopZombies() throws InterruptedException {
        stopZombies.set(true);
        for (Thread t : zombies) {
            t.join();
        }
        zombies.clear();
        stopZombies.set(false);
    }

    /** A write through a device this node kept after losing its term, bypassing the gate. */
    boolean zombieWrite(Opened old, int block) {
        WriteHistory.Write w = history.begin(id + "-zombie", old.term(), block);
        try {
            old.device().write(w.payload(), w.offset(), WriteFlag.FUA);
            history.acked(w, old.term());
            return true;
        } catch (IOException | RuntimeException e) {
            history.failed(w, e);
            return false;
        }
    }

    void stopWriting() throws InterruptedException {
        stop.set(true);
        writer.join();
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The node shuts down uncleanly but its engine still closes: its ZooKeeper connection drops,
     * the engine commits its writer state and closes its replica sessions.
     */
    void kill() throws IOException, InterruptedException {
        proxy.kill();
        stop.set(true);
        engine.close();
        writer.join();
        replicaProxies.forEach(CuttingProxy::close);
    }

    /**
     * The process dies: every socket it had (ZooKeeper and the replica sessions) is cut at once,
     * mid-request, nothing reconnects, and its engine is abandoned — never closed, so its writer
     * state is never committed and its in-flight writes are cut short on some replicas. (The
     * objects stay in this JVM until the test ends, unable to reach anything.)
     */
    void hardKill() throws IOException, InterruptedException {
        abandon = true;
        proxy.kill();
        replicaProxies.forEach(CuttingProxy::close);
        stop.set(true);
        writer.join();
    }

    @Override
    public void close() throws Exception {
        stopZombies();
        stop.set(true);
        writer.join();
        controller.close();
        coordinator.close();
        engine.close();
        for (Opened o : retained) {
            o.device().close();
        }
        if (abandon) {
            for (Opened o : opened) {
                o.device().close(); // the test is over: free the abandoned engines' threads
            }
        }
        proxy.close();
        replicaProxies.forEach(CuttingProxy::close);
    }

    @Override
    public String toString() {
        return id + " " + controller.status();
    }
}

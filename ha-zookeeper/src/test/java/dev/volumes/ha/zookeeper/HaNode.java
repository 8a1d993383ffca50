package dev.volumes.ha.zookeeper;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.ha.Controller;
import dev.volumes.ha.ControllerEvent;
import dev.volumes.ha.ControllerState;
import dev.volumes.ha.ControllerStatus;
import dev.volumes.ha.Coordinator;
import dev.volumes.ha.ReadPolicy;
import dev.volumes.ha.TermEngine;
import dev.volumes.ha.WriteHistory;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.Replication;
import dev.volumes.replica.ReplicationMode;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One node of the end-to-end tests, wired as a deployment would be: a ZooKeeper coordinator
 * (reaching ZooKeeper through its own cuttable {@link TcpProxy}), a {@link TermEngine} whose
 * opener opens the replication engine over the three replica servers with the new term (the
 * storage fence), a {@link Controller}, the gated device, and a writer that writes through the
 * gate while the node leads, recording every write in the shared {@link WriteHistory}.
 */
final class HaNode implements AutoCloseable {

    static final int BLOCKS = 64;
    static final long VOLUME = (long) BLOCKS * WriteHistory.BLOCK;

    final String id;
    final TcpProxy proxy;
    final Coordinator coordinator;
    final TermEngine engine;
    final Controller controller;
    final Device gated;
    private final WriteHistory history;
    private final ThreadLocal<Long> lastTerm = ThreadLocal.withInitial(() -> 0L);
    /** Devices a "zombie" node kept open after its controller released them. */
    final List<Opened> retained = new CopyOnWriteArrayList<>();
    volatile boolean keepReleasedOpen;
    volatile Opened current;
    volatile long demotedNanos;
    final List<ControllerEvent> events = new CopyOnWriteArrayList<>();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicBoolean stopZombies = new AtomicBoolean();
    private final List<Thread> zombies = new CopyOnWriteArrayList<>();
    private final Random zombieRandom;
    private final Thread writer;

    record Opened(long term, ReplicatedDevice device) {}

    HaNode(String id, InetSocketAddress zooKeeper, Duration sessionTimeout, List<ReplicaConnector> replicas,
            Path stateDir, WriteHistory history, long seed) throws IOException {
        this.id = id;
        this.history = history;
        this.proxy = new TcpProxy(zooKeeper);
        this.coordinator = ZooKeeperCoordination.builder().connectString(proxy.connectString())
                .sessionTimeout(sessionTimeout).connectionTimeout(Duration.ofMillis(1000)).group("/vol0").nodeId(id)
                .build();
        this.engine = new TermEngine("vol0", VOLUME, Capabilities.of(), term -> open(term, replicas, stateDir));
        this.controller = Controller.builder().coordinator(coordinator).fencer(engine)
                .backoff(Duration.ofMillis(20), Duration.ofMillis(500)).maxFenceAttempts(5)
                .recampaignDelay(Duration.ofMillis(50)).observer(e -> {
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

    private Device open(long term, List<ReplicaConnector> replicas, Path stateDir) throws IOException {
        // The writer state belongs to one (node, term): a new term starts from the replicas'
        // headers alone (docs/ha.md, "Replication state per term").
        Replication.Builder b = Replication.builder().name("vol0@" + id).mode(ReplicationMode.QUORUM).term(term)
                .writer(id).stateDir(stateDir.resolve("term-" + term)).regionSize(64 << 10)
                .writeTimeout(Duration.ofSeconds(2));
        for (int i = 0; i < replicas.size(); i++) {
            b.replica("r" + i, replicas.get(i));
        }
        preclaim(term, replicas);
        ReplicatedDevice device = b.open();
        history.claimed(id, term);
        // Bring replicas that fell out of sync back, in the background, as an operator's daemon would.
        Thread.ofVirtual().name("rebuild-" + id + "-" + term).start(() -> {
            for (ReplicaStatus s : device.status()) {
                if (s.state() == ReplicaState.OUT_OF_SYNC) {
                    try {
                        device.rebuild(s.id());
                    } catch (IOException | RuntimeException e) {
                        return; // fenced or closed: the next term rebuilds
                    }
                }
            }
        });
        Opened opened = new Opened(term, device);
        current = opened;
        return new ForwardingDevice(device) {
            @Override
            public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                super.write(src, offset, flag);
                lastTerm.set(term);
            }

            @Override
            public void write(ByteBuffer src, long offset) throws IOException {
                super.write(src, offset);
                lastTerm.set(term);
            }

            @Override
            public void close() throws IOException {
                if (keepReleasedOpen) {
                    // The zombie keeps its replica sessions open.
                    retained.add(opened);
                } else {
                    super.close();
                }
            }
        };
    }

    /**
     * Claims every replica with the new term at once, before the engine opens (which claims them
     * one after the other, then re-claims with the same term here): the deposed writer is cut off
     * from all replicas at nearly the same instant, which narrows the handover race of docs/ha.md
     * §8. Unreachable replicas are left to the engine.
     */
    private void preclaim(long term, List<ReplicaConnector> replicas) throws IOException {
        List<Thread> claims = new java.util.ArrayList<>();
        List<IOException> fenced = new CopyOnWriteArrayList<>();
        for (ReplicaConnector c : replicas) {
            claims.add(Thread.ofVirtual().start(() -> {
                try {
                    c.connect(term, id).close();
                } catch (dev.volumes.replica.FencedException e) {
                    fenced.add(e);
                } catch (IOException e) {
                    // unreachable: the engine's open decides
                }
            }));
        }
        for (Thread t : claims) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("pre-claim of term " + term + " interrupted");
            }
        }
        if (!fenced.isEmpty()) {
            throw fenced.getFirst();
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

    /** Starts a thread that keeps writing through {@code old}, behind the gate's back. */
    void startZombie(Opened old) {
        zombies.add(Thread.ofVirtual().name("zombie-" + id).start(() -> zombieLoop(old)));
    }

    private void zombieLoop(Opened old) {
        while (!stopZombies.get()) {
            synchronized (zombieRandom) {
                zombieWrite(old, zombieRandom);
            }
            pause(1);
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
    boolean zombieWrite(Opened old, Random random) {
        WriteHistory.Write w = history.begin(id + "-zombie", old.term(), random.nextInt(BLOCKS));
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

    /** The node dies: its ZooKeeper connection and replica sessions drop, nothing is handed over. */
    void kill() throws IOException, InterruptedException {
        proxy.kill();
        stop.set(true);
        engine.close();
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
        proxy.close();
    }

    @Override
    public String toString() {
        return id + " " + controller.status();
    }
}

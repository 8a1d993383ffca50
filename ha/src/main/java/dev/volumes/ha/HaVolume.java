package dev.volumes.ha;

import dev.volumes.device.Device;
import dev.volumes.replica.ReplicaStatus;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * One node's part in one highly available replicated volume, assembled: a {@link Coordinator}
 * (election), a {@link ReplicatedOpener} (the storage fence and the replication engine of each
 * term), a {@link TermEngine}, a {@link Controller} (fence-before-promote, the write-failure
 * health rule) and the leader gate over the engine. Serve {@link #device()} (for example over
 * NBD): it writes only while this node leads, through the replication engine of its term.
 *
 * <pre>{@code
 * HaVolume vol = HaVolume.builder()
 *         .coordinator(ZooKeeperCoordination.builder()...nodeId("node-a").build())
 *         .replication(ReplicatedOpener.builder()...build())
 *         .size(volumeBytes)
 *         .start();
 * nbdServer.export("vol0", vol.device());
 * ... vol.status(), vol.counters(), vol.replicaStatus() for metrics ...
 * vol.close();
 * }</pre>
 *
 * <p>{@link #close()} stops the controller (resigning the lease, releasing the term: the engine
 * closes and commits its state, its background rebuild stops), then closes the coordinator, which
 * this object owns. Thread-safe.
 */
public final class HaVolume implements AutoCloseable {

    private final Coordinator coordinator;
    private final ReplicatedOpener replication;
    private final TermEngine engine;
    private final Controller controller;
    private final Device device;

    private HaVolume(Builder b) {
        this.coordinator = b.coordinator;
        this.replication = b.replication;
        this.engine = new TermEngine(replication.volume(), b.size, replication.capabilities(), replication);
        Fencer fencer = b.externalFencer == null ? engine : b.externalFencer.andThen(engine);
        Controller.Builder cb = Controller.builder().coordinator(coordinator).fencer(fencer);
        b.controllerSettings.accept(cb);
        this.controller = cb.start();
        this.device = controller.gate(engine, b.readPolicy);
    }

    /** A new builder; coordinator, replication and size are required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The gated volume: writes only while this node leads; reads per the read policy. */
    public Device device() {
        return device;
    }

    /** The controller's state and term (a volatile read). */
    public ControllerStatus status() {
        return controller.status();
    }

    /** The controller's counters. */
    public ControllerCounters counters() {
        return controller.counters();
    }

    /** Every replica's state in the term open on this node; empty unless this node leads (or is fencing). */
    public List<ReplicaStatus> replicaStatus() {
        return replication.replicaStatus();
    }

    /** The controller, to observe transitions or wait for a state. */
    public Controller controller() {
        return controller;
    }

    /** Stops the controller (resigns, releases the term), closes the engine and the coordinator. Idempotent. */
    @Override
    public void close() {
        controller.close();
        engine.close();
        coordinator.close();
    }

    @Override
    public String toString() {
        return "HaVolume[" + replication.volume() + "@" + coordinator.nodeId() + " " + controller.status() + "]";
    }

    /** Collects the parts. Not thread-safe. */
    public static final class Builder {
        private Coordinator coordinator;
        private ReplicatedOpener replication;
        private long size = -1;
        private Fencer externalFencer;
        private ReadPolicy readPolicy = ReadPolicy.LEADER_ONLY;
        private Consumer<Controller.Builder> controllerSettings = b -> {};

        private Builder() {}

        /** This node's election (required); the volume owns it and closes it. */
        public Builder coordinator(Coordinator coordinator) {
            this.coordinator = coordinator;
            return this;
        }

        /** How each term opens the replicas (required). Its node id should be the coordinator's. */
        public Builder replication(ReplicatedOpener replication) {
            this.replication = replication;
            return this;
        }

        /** The volume's size in bytes: each replica's size minus its header area (required). */
        public Builder size(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("size must be >= 0: " + bytes);
            }
            this.size = bytes;
            return this;
        }

        /**
         * An external fencer run before the storage is claimed, e.g. {@link Fencer#command} for
         * {@code minInSync} modes, where storage alone cannot fence (docs/ha.md §2). Default none.
         */
        public Builder externalFencer(Fencer fencer) {
            this.externalFencer = fencer;
            return this;
        }

        /** Which reads the gate lets through; default {@link ReadPolicy#LEADER_ONLY}. */
        public Builder readPolicy(ReadPolicy policy) {
            if (policy == null) {
                throw new IllegalArgumentException("read policy is null");
            }
            this.readPolicy = policy;
            return this;
        }

        /**
         * Controller settings (backoff, fence attempts, recampaign delay, write-failure backoff,
         * observers), applied to a {@link Controller.Builder} whose coordinator and fencer are
         * already set.
         */
        public Builder controller(Consumer<Controller.Builder> settings) {
            if (settings == null) {
                throw new IllegalArgumentException("controller settings are null");
            }
            this.controllerSettings = settings;
            return this;
        }

        /**
         * Assembles the node and starts campaigning.
         *
         * @throws IllegalStateException if the coordinator, replication or size is missing, or the
         *     replication's node id is not the coordinator's
         */
        public HaVolume start() {
            if (coordinator == null || replication == null || size < 0) {
                throw new IllegalStateException("an HA volume needs a coordinator, a replication opener and a size");
            }
            if (!coordinator.nodeId().equals(replication.nodeId())) {
                throw new IllegalStateException("the coordinator's node id " + coordinator.nodeId()
                        + " differs from the replication's " + replication.nodeId());
            }
            return new HaVolume(this);
        }
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/** Everything {@link Replication.Builder} collected, validated. */
record Config(String name, List<Spec> replicas, ReplicationMode mode, long term, String writer,
        Duration writeTimeout, StateOpener stateOpener, long regionSize, int chunkSize, long rebuildBytesPerSecond,
        Consumer<RebuildProgress> progress, String preferred, boolean skipInitialSync, Pacer pacer) {

    /**
     * The rebuild throttle's clock and sleeper: the system's in production, a fake in tests (so
     * the throttle is checked by the sleeps it asks for, not by wall-clock time).
     */
    interface Pacer {
        long nanoTime();

        void sleep(long nanos) throws InterruptedException;

        Pacer SYSTEM = new Pacer() {
            @Override
            public long nanoTime() {
                return System.nanoTime();
            }

            @Override
            public void sleep(long nanos) throws InterruptedException {
                Thread.sleep(java.time.Duration.ofNanos(nanos));
            }
        };
    }

    /** Opens (creating if needed) the state device for a set of {@code dataSize} bytes. */
    interface StateOpener {
        Device open(long dataSize, long regionSize) throws java.io.IOException;
    }

    /** One configured replica: exactly one of device and connector is set. */
    record Spec(String id, Device device, ReplicaConnector connector) {}

    Config {
        replicas = List.copyOf(replicas);
    }
}

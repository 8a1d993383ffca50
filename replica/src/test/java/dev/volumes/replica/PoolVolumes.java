package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.testkit.FaultInjector;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Replica volumes for the NBD ITs as a node has them: each volume {@code "vol"} in its own
 * in-memory pool, sized for a replicated volume of {@code dataSize} bytes, seen through a
 * {@link FaultInjector} (faults, call counters) that a ReplicaServer exports. {@link #close()}
 * closes the volumes, then the pools (after the servers, which the test closes first).
 */
final class PoolVolumes implements AutoCloseable {

    private final long dataSize;
    private final long poolBytes;
    private final List<Pool> pools = new ArrayList<>();
    private final List<Device> volumes = new ArrayList<>();
    private final List<FaultInjector> faults = new ArrayList<>();

    PoolVolumes(long dataSize, long poolBytes) {
        this.dataSize = dataSize;
        this.poolBytes = poolBytes;
    }

    /** Creates the next volume (index {@code size()}) and returns its fault injector. */
    FaultInjector add() throws IOException {
        Pool pool = Pool.create(MemoryDevice.create("pool" + volumes.size(), poolBytes), PoolOptions.defaults());
        pools.add(pool);
        pool.createVolume("vol", Replication.replicaSize(dataSize));
        Device v = pool.openVolume("vol");
        volumes.add(v);
        FaultInjector f = FaultInjector.wrap(new Fixture.Unclosable(v));
        faults.add(f);
        return f;
    }

    /** Volume {@code i} itself, below its fault injector. */
    Device volume(int i) {
        return volumes.get(i);
    }

    /** Volume {@code i}'s fault injector (what its server exports). */
    FaultInjector fault(int i) {
        return faults.get(i);
    }

    @Override
    public void close() throws IOException {
        for (Device v : volumes) {
            v.close();
        }
        for (Pool p : pools) {
            p.close();
        }
    }
}

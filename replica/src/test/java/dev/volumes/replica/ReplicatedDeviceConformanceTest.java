package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** The Device conformance suite over a 3-way replicated device of memory replicas. */
class ReplicatedDeviceConformanceTest extends DeviceConformanceTest {

    private final Map<Device, List<MemoryDevice>> disks = new IdentityHashMap<>();
    private final Map<Device, MemoryDevice> states = new IdentityHashMap<>();

    @Override
    protected Device create(long size) throws IOException {
        List<MemoryDevice> replicas = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            replicas.add(MemoryDevice.create("r" + i, size + ReplicaHeader.AREA));
        }
        MemoryDevice state = MemoryDevice.create("state", 64 << 20);
        Device dev = open(replicas, state);
        disks.put(dev, replicas);
        states.put(dev, state);
        return dev;
    }

    private static Device open(List<MemoryDevice> replicas, MemoryDevice state) throws IOException {
        Replication.Builder b = Replication.builder().name("conformance").term(1).skipInitialSync()
                .stateDevice(new Fixture.Unclosable(state)).regionSize(64 << 10);
        for (int i = 0; i < replicas.size(); i++) {
            b.replica("r" + i, new Fixture.Unclosable(replicas.get(i)));
        }
        return b.open();
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        Device dev = open(disks.get(closed), states.get(closed));
        disks.put(dev, disks.get(closed));
        states.put(dev, states.get(closed));
        return dev;
    }
}

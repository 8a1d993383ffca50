package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.FaultInjector;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * In-process replica sets for engine tests: N memory replicas behind fault injectors, a state
 * device that outlives engine restarts, and a byte model of every acknowledged write.
 */
final class Fixture {

    static final long REGION = 64 << 10;

    final long dataSize;
    final List<MemoryDevice> disks = new ArrayList<>();
    final List<FaultInjector> faults = new ArrayList<>();
    final MemoryDevice state;
    final byte[] model;

    Fixture(int replicas, long dataSize) {
        this.dataSize = dataSize;
        for (int i = 0; i < replicas; i++) {
            MemoryDevice d = MemoryDevice.create("r" + i, dataSize + ReplicaHeader.AREA);
            disks.add(d);
            faults.add(FaultInjector.wrap(new Unclosable(d)));
        }
        state = MemoryDevice.create("state", StateStore.deviceSize(dataSize, REGION));
        model = new byte[(int) dataSize];
    }

    Replication.Builder builder(long term) {
        return builder(term, faults::get);
    }

    /** Like {@link #builder(long)}, replica {@code i} being {@code replica.apply(i)}. */
    Replication.Builder builder(long term, java.util.function.IntFunction<Device> replica) {
        Replication.Builder b = Replication.builder().name("set").term(term).writer("w" + term)
                .stateDevice(new Unclosable(state)).regionSize(REGION).rebuildChunk(16 << 10)
                .writeTimeout(Duration.ofSeconds(5));
        for (int i = 0; i < faults.size(); i++) {
            b.replica("r" + i, replica.apply(i));
        }
        return b;
    }

    /** Writes {@code len} bytes of pattern {@code seed} at {@code off} and records them in the model. */
    void write(Device dev, long off, int len, long seed) throws IOException {
        byte[] data = pattern(len, seed);
        dev.write(ByteBuffer.wrap(data), off);
        synchronized (model) {
            System.arraycopy(data, 0, model, (int) off, len);
        }
    }

    static byte[] pattern(int len, long seed) {
        byte[] b = new byte[len];
        long x = seed * 0x9E3779B97F4A7C15L + 1;
        for (int i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b[i] = (byte) x;
        }
        return b;
    }

    static byte[] readAll(Device d, long size) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) size);
        d.read(b, 0);
        return b.array();
    }

    /** Every in-sync replica holds exactly the model in its data area. */
    void assertInSyncReplicasMatchModel(ReplicatedDevice dev) throws IOException {
        for (ReplicaStatus s : dev.status()) {
            if (s.state() == ReplicaState.IN_SYNC) {
                int i = Integer.parseInt(s.id().substring(1));
                byte[] bytes = readAll(disks.get(i), dataSize);
                if (!Arrays.equals(bytes, model)) {
                    int at = Arrays.mismatch(bytes, model);
                    throw new AssertionError("in-sync replica " + s.id() + " differs from the model at byte " + at
                            + " (status " + dev.status() + ")");
                }
            }
        }
        assertThat(readAll(dev, dataSize)).as("device content vs model").isEqualTo(model);
    }

    /** A view whose close() does nothing, so disks outlive engine restarts. */
    static final class Unclosable extends dev.volumes.device.ForwardingDevice {
        Unclosable(Device d) {
            super(d);
        }

        @Override
        public void close() {}
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.CrashReport;
import dev.volumes.testkit.CrashSimulator;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Whole-set power loss under the disk model: every replica (and the writer's state device) is a
 * crash simulator that loses a random subset of its unsynced writes, independently. After the
 * restart the activity log must make all in-sync replicas byte-identical, and every block whose
 * last write was covered by a completed {@code sync()} must hold exactly that write.
 */
class PowerLossTest {

    private static final String TEST = "PowerLossTest#inSyncReplicasAgreeAndKeepSyncedWritesAfterPowerLoss";
    private static final long SIZE = 1 << 20;
    private static final int BLOCK = 4096;

    @Test
    void inSyncReplicasAgreeAndKeepSyncedWritesAfterPowerLoss() throws IOException {
        int runs = Seeds.scaled(100);
        for (int i = 0; i < runs; i++) {
            long seed = Seeds.forTest(TEST) + i;
            try {
                runOne(seed);
            } catch (AssertionError | IOException e) {
                throw new AssertionError("seed 0x" + Long.toHexString(seed) + ": " + e + "\n" + Seeds.reproduceWith(TEST),
                        e);
            }
        }
    }

    private void runOne(long seed) throws IOException {
        Random rnd = new Random(seed);
        List<MemoryDevice> disks = new ArrayList<>();
        List<CrashSimulator> sims = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            MemoryDevice d = MemoryDevice.create("r" + r, SIZE + ReplicaHeader.AREA);
            disks.add(d);
            sims.add(CrashSimulator.wrap(d, seed * 7 + r));
        }
        MemoryDevice stateDisk = MemoryDevice.create("state", StateStore.deviceSize(SIZE, 64 << 10));
        CrashSimulator stateSim = CrashSimulator.wrap(stateDisk, seed * 7 + 5);
        int blocks = (int) (SIZE / BLOCK);
        byte[][] synced = new byte[blocks][];
        byte[][] latest = new byte[blocks][];
        ReplicatedDevice dev = open(new ArrayList<Device>(sims), stateSim, true);
        int ops = 20 + rnd.nextInt(60);
        for (int k = 0; k < ops; k++) {
            if (rnd.nextInt(8) == 0) {
                dev.sync();
                for (int b = 0; b < blocks; b++) {
                    synced[b] = latest[b];
                }
            } else {
                int b = rnd.nextInt(blocks);
                byte[] data = Fixture.pattern(BLOCK, rnd.nextLong());
                dev.write(ByteBuffer.wrap(data), (long) b * BLOCK);
                latest[b] = data;
            }
        }
        // power loss everywhere at once: the engine is simply abandoned
        List<CrashReport> reports = new ArrayList<>();
        for (CrashSimulator s : sims) {
            reports.add(s.crash());
        }
        stateSim.crash();
        ((Engine) dev).abandon();
        try (ReplicatedDevice again = open(new ArrayList<Device>(disks), stateDisk,
                false)) {
            byte[] first = null;
            for (ReplicaStatus s : again.status()) {
                if (s.state() != ReplicaState.IN_SYNC) {
                    throw new AssertionError("replica " + s.id() + " not in sync after power loss: " + again.status());
                }
                byte[] bytes = Fixture.readAll(disks.get(Integer.parseInt(s.id().substring(1))), SIZE);
                if (first == null) {
                    first = bytes;
                } else if (!Arrays.equals(first, bytes)) {
                    throw new AssertionError("replicas differ after power loss at byte " + Arrays.mismatch(first, bytes)
                            + "; crashes " + reports);
                }
            }
            byte[] content = Fixture.readAll(again, SIZE);
            for (int b = 0; b < blocks; b++) {
                if (latest[b] != null && latest[b] == synced[b]) {
                    byte[] got = Arrays.copyOfRange(content, b * BLOCK, (b + 1) * BLOCK);
                    if (!Arrays.equals(got, synced[b])) {
                        throw new AssertionError("block " + b + " lost its synced write; crashes " + reports);
                    }
                }
            }
        }
    }

    private static ReplicatedDevice open(List<Device> replicas, Device state,
            boolean fresh) throws IOException {
        Replication.Builder b = Replication.builder().name("power").term(1).regionSize(64 << 10)
                .stateDevice(new Fixture.Unclosable(state)).writeTimeout(Duration.ofSeconds(5));
        if (fresh) {
            b.skipInitialSync();
        }
        for (int i = 0; i < replicas.size(); i++) {
            b.replica("r" + i, new Fixture.Unclosable(replicas.get(i)));
        }
        return b.open();
    }
}

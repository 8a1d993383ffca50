package dev.volumes.testkit;

import static dev.volumes.testkit.CrashSimulatorTest.fill;
import static dev.volumes.testkit.CrashSimulatorTest.pattern;
import static dev.volumes.testkit.CrashSimulatorTest.sector;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Bounds;
import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The crash simulator over disks that fail or do not zero discarded ranges. */
class CrashSimulatorDiskTest {

    private static final int S = 512;
    private static final CrashSimulator.Options LOSE_ALL = CrashSimulator.Options.DEFAULT.withKeepProbability(0);

    @Test
    void failedDiskSyncLeavesEverythingPending() throws IOException {
        MemoryDevice disk = MemoryDevice.create(4 * S);
        FaultInjector faults = FaultInjector.wrap(disk);
        CrashSimulator sim = CrashSimulator.wrap(faults, 1, LOSE_ALL);
        faults.on(Op.SYNC).nth(1).fail(Fault.EIO);
        sim.write(fill(1, S), 0);
        assertThatThrownBy(sim::sync).hasMessageContaining("injected EIO");
        assertThat(sim.pendingWrites()).isEqualTo(1);
        sim.crash();
        assertThat(sector(disk, 0)).as("a failed sync promised nothing").isEqualTo(pattern(0));
    }

    @Test
    void writeThatFailedAfterLandingIsNotPending() throws IOException {
        MemoryDevice disk = MemoryDevice.create(4 * S);
        FaultInjector faults = FaultInjector.wrap(disk);
        CrashSimulator sim = CrashSimulator.wrap(faults, 2, LOSE_ALL.withKeepProbability(1));
        faults.on(Op.WRITE).nth(1).failAfterApplying(Fault.EIO);
        assertThatThrownBy(() -> sim.write(fill(1, S), S)).hasMessageContaining("injected EIO");
        assertThat(sector(sim, 1)).as("running view shows what the disk holds").isEqualTo(pattern(1));
        assertThat(sim.pendingWrites()).isZero();
        sim.crash();
        assertThat(sector(disk, 1)).isEqualTo(pattern(0));
    }

    @Test
    void discardOnADiskThatDoesNotZeroKeepsOldOrPostDiscardContentOnly() throws IOException {
        long base = Seeds.forTest("CrashSimulatorDiskTest#discard");
        boolean sawOld = false;
        boolean sawGarbage = false;
        for (int i = 0; i < 200; i++) {
            MemoryDevice memory = MemoryDevice.create(8 * S);
            Device disk = new GarbageDiscardDisk(memory);
            CrashSimulator sim = CrashSimulator.wrap(disk, base + i);
            sim.write(fill(3, 8 * S), 0);
            sim.sync();
            sim.discard(S, 6 * S);
            sim.crash();
            for (int s = 0; s < 8; s++) {
                byte[] got = sector(memory, s);
                if (s == 0 || s == 7) {
                    assertThat(got).isEqualTo(pattern(3));
                } else {
                    assertThat(got).isIn(pattern(3), pattern(0xEE));
                    sawOld |= got[0] == 3;
                    sawGarbage |= got[0] == (byte) 0xEE;
                }
            }
        }
        assertThat(sawOld && sawGarbage).isTrue();
    }

    /** A disk whose discard leaves 0xEE bytes and which does not promise zeros. */
    private static final class GarbageDiscardDisk extends ForwardingDevice {
        GarbageDiscardDisk(Device d) {
            super(d);
        }

        @Override
        public Capabilities capabilities() {
            return delegate().capabilities().without(Capability.DISCARD_READS_ZEROES);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            Bounds.checkRange(this, "discard", offset, length, size());
            byte[] garbage = new byte[(int) length];
            Arrays.fill(garbage, (byte) 0xEE);
            delegate().write(ByteBuffer.wrap(garbage), offset);
        }
    }
}

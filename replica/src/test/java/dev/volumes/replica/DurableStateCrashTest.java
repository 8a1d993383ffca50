package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.CrashReport;
import dev.volumes.testkit.CrashSimulator;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Durability of the two small persistent structures, under the disk model (crash simulator):
 * a promise or state commit that returned survives any crash, and a crash during one leaves
 * either the old or the new record, never garbage. Also: a whole engine whose state device
 * crashes keeps "stale replicas are never read".
 */
class DurableStateCrashTest {

    @Test
    void termPromiseThatReturnedSurvivesEveryCrash() throws IOException {
        String test = "DurableStateCrashTest#termPromiseThatReturnedSurvivesEveryCrash";
        int runs = Seeds.scaled(300);
        for (int i = 0; i < runs; i++) {
            long seed = Seeds.forTest(test) + i;
            Random rnd = new Random(seed);
            MemoryDevice disk = MemoryDevice.create("term", TermStore.DEVICE_SIZE);
            CrashSimulator sim = CrashSimulator.wrap(disk, seed);
            TermStore store = TermStore.open(sim);
            long acked = 0;
            long attempted = 0;
            sim.armPowerCut(1 + rnd.nextInt(12));
            try {
                for (long t = 1; t < 20; t++) {
                    attempted = t;
                    store.promise(t, "w" + t);
                    acked = t;
                }
            } catch (IOException expected) {
                // power cut
            }
            CrashReport report = sim.crash();
            long after = TermStore.open(disk).current().term();
            if (after < acked || after > attempted) {
                throw new AssertionError("promised " + acked + " (attempted " + attempted + "), after crash " + after
                        + ", " + report + "\n" + Seeds.reproduceWith(test));
            }
        }
    }

    @Test
    void stateCommitThatReturnedSurvivesEveryCrash() throws IOException {
        String test = "DurableStateCrashTest#stateCommitThatReturnedSurvivesEveryCrash";
        long dataSize = 8 << 20;
        long region = 64 << 10;
        int runs = Seeds.scaled(300);
        for (int i = 0; i < runs; i++) {
            long seed = Seeds.forTest(test) + i;
            Random rnd = new Random(seed);
            MemoryDevice disk = MemoryDevice.create("state", StateStore.deviceSize(dataSize, region));
            CrashSimulator sim = CrashSimulator.wrap(disk, seed);
            StateStore store = StateStore.open(sim, dataSize, region);
            List<StateRecord> committed = new ArrayList<>();
            StateRecord attempted = null;
            sim.armPowerCut(1 + rnd.nextInt(12));
            try {
                for (int g = 1; g < 20; g++) {
                    byte[] bitmap = new byte[StateRecord.bitmapBytes(dataSize, region)];
                    rnd.nextBytes(bitmap);
                    attempted = new StateRecord(0, 1, g, region, dataSize, List.of(
                            new StateRecord.MemberRecord("a", true, g, false, ""),
                            new StateRecord.MemberRecord("b", rnd.nextBoolean(), g - 1, rnd.nextBoolean(), "why " + g)),
                            bitmap);
                    committed.add(store.commit(attempted));
                }
            } catch (IOException expected) {
                // power cut
            }
            CrashReport report = sim.crash();
            StateRecord after = StateStore.open(disk, dataSize, region).current();
            StateRecord last = committed.isEmpty() ? null : committed.getLast();
            boolean ok = after == null ? last == null
                    : (last != null && sameContent(after, last))
                            || (attempted != null && after.generation() == attempted.generation()
                                    && sameContent(after, attempted));
            if (!ok) {
                throw new AssertionError("last committed " + (last == null ? "none" : last.generation()) + ", after crash "
                        + (after == null ? "none" : after.generation()) + ", " + report + "\n" + Seeds.reproduceWith(test));
            }
        }
    }

    private static boolean sameContent(StateRecord a, StateRecord b) {
        return a.generation() == b.generation() && a.term() == b.term() && a.members().equals(b.members())
                && java.util.Arrays.equals(a.bitmap(), b.bitmap());
    }

    @Test
    void engineWhoseStateDeviceCrashesNeverReadsAStaleReplica() throws IOException {
        String test = "DurableStateCrashTest#engineWhoseStateDeviceCrashesNeverReadsAStaleReplica";
        int runs = Seeds.scaled(60);
        for (int i = 0; i < runs; i++) {
            long seed = Seeds.forTest(test) + i;
            Random rnd = new Random(seed);
            Fixture f = new Fixture(3, 1 << 20);
            CrashSimulator sim = CrashSimulator.wrap(f.state, seed);
            int victim = rnd.nextInt(3);
            try (ReplicatedDevice dev = f.builder(1).stateDevice(new Fixture.Unclosable(sim)).skipInitialSync().open()) {
                for (int k = 0; k < 5; k++) {
                    f.write(dev, rnd.nextInt(250) * 4096L, 4096, rnd.nextLong());
                }
                f.faults.get(victim).on(FaultInjector.Op.WRITE).times(1).fail(FaultInjector.Fault.EIO);
                for (int k = 0; k < 5; k++) {
                    f.write(dev, rnd.nextInt(250) * 4096L, 4096, rnd.nextLong());
                }
                sim.armPowerCut(1 + rnd.nextInt(4));
                try {
                    for (int k = 0; k < 20; k++) {
                        f.write(dev, rnd.nextInt(250) * 4096L, 4096, rnd.nextLong());
                    }
                } catch (IOException expected) {
                    // the state device lost power: the engine refuses (fail-stop) from then on
                }
            } catch (IOException closing) {
                // close may fail after the power cut
            }
            CrashReport report = sim.crash();
            f.faults.get(victim).clearRules();
            try (ReplicatedDevice dev = f.builder(1).open()) {
                if (dev.status().get(victim).state() == ReplicaState.IN_SYNC) {
                    throw new AssertionError("stale replica r" + victim + " in sync after the crash: " + dev.status()
                            + ", " + report + "\n" + Seeds.reproduceWith(test));
                }
                try {
                    f.assertInSyncReplicasMatchModel(dev);
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + ", " + report + "\n" + Seeds.reproduceWith(test), e);
                }
                dev.rebuild("r" + victim);
                f.assertInSyncReplicasMatchModel(dev);
            }
        }
    }
}

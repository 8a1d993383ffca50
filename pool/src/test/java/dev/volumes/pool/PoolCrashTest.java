package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.CrashReport;
import dev.volumes.testkit.CrashSimulator;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Model-based crash test: random create / write / FUA write / snapshot / clone / delete / discard /
 * write-zeroes (with and without unmap) / resize / pool grow / sync sequences
 * over a {@link CrashSimulator} whose power is cut at a random mutating call (inside writes and
 * inside every step of a commit), then the pool is reopened and compared with the model. Every
 * kind of operation is counted when it returns, and the test fails if one never did (a workload
 * generator bug must not silently test nothing).
 *
 * <p>Model: the state at the last completed sync ({@code synced}), the state when the sync that
 * was interrupted began ({@code syncing}), and every sector written since the last completed
 * sync, with a sequence number. After a crash the reopened pool must hold exactly the names of
 * one of those two states (chosen by the committed generation), every snapshot must equal that
 * state byte for byte, and every sector of a writable volume must hold that state's value or a
 * value written to it after that state was taken. Then {@link Pool#check()} must be clean.
 * Writes are 512-byte aligned so that the disk model's sector atomicity gives exact answers.
 * Discard and write-zeroes are modelled as writes of zeros (after a crash a sector holds its
 * committed bytes or zeros); a resize changes the model's size (grown bytes read as zeros). A FUA
 * write ({@code write(..., WriteFlag.FUA)}) is durable on return: the model takes it as a completed
 * sync, and a power cut inside it is a cut inside a sync whose state includes the write.
 * After a crash, every HOLE and ZERO extent a volume reports must read as zeros.
 */
class PoolCrashTest {

    /** Odd episodes use 16 KiB blocks, so partial-block merges and copies are common. */
    private static final int[] BLOCK_SIZES = {4096, 16384};
    /** Entries per step of discard and write-zeroes, per pair of episodes: the default, and small (many steps). */
    private static final int[] ZERO_STEPS = {Zeroer.STEP, 1, 3};
    private static final int SECTOR = 512;
    private static final boolean TRACE = System.getProperty("volumes.crash.episode") != null;

    private record Vol(VolumeKind kind, byte[] content) {
        Vol copy() {
            return new Vol(kind, content.clone());
        }
    }

    private record Written(long seq, String name, int offset, byte[] data) {}

    /** The operations of the workload, counted when they return. */
    enum Op { CREATE, SNAPSHOT, CLONE, SYNC, DELETE, WRITE, FUA_WRITE, DISCARD, ZEROES_UNMAP, ZEROES_KEEP, RESIZE,
        POOL_GROW }

    private static final class Model {
        Map<String, Vol> current = new LinkedHashMap<>();
        Map<String, Vol> synced = new LinkedHashMap<>();
        long syncedGeneration;
        Map<String, Vol> syncing;
        long syncingSeq;
        long syncedSeq;
        long seq;
        int names;
        final List<Written> writes = new ArrayList<>();

        static Map<String, Vol> copy(Map<String, Vol> m) {
            Map<String, Vol> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(k, v.copy()));
            return out;
        }

        void synced(long generation) {
            synced = copy(current);
            syncedGeneration = generation;
            syncedSeq = seq;
            writes.clear();
            syncing = null;
        }
    }

    @Test
    void randomWorkloadsSurviveThousandsOfPowerCuts() throws Exception {
        String test = "PoolCrashTest#randomWorkloadsSurviveThousandsOfPowerCuts";
        long master = Seeds.forTest(test);
        int crashPoints = Seeds.scaled(2100);
        int roundsPerEpisode = 30;
        int done = 0;
        long episode = 0;
        long torn = 0;
        long inSync = 0;
        long[] ops = new long[Op.values().length]; // operations that returned, by kind
        // -Dvolumes.crash.episode=N replays only episode N of this master seed (with an op trace)
        String only = System.getProperty("volumes.crash.episode");
        if (only != null) {
            episode = Long.parseLong(only);
            crashPoints = roundsPerEpisode;
        }
        while (done < crashPoints) {
            long seed = master + episode * 7919;
            Random rnd = new Random(seed);
            MemoryDevice disk = MemoryDevice.create("disk", 3L << 20);
            CrashSimulator sim = CrashSimulator.wrap(disk, seed);
            int bs = BLOCK_SIZES[(int) (episode % BLOCK_SIZES.length)];
            Pool pool = Pool.create(sim, PoolOptions.builder().blockSize(bs).reserve(8L * bs).build());
            // discard and write-zeroes publish in steps of this many entries (small steps: many)
            int zeroStep = ZERO_STEPS[(int) (episode / BLOCK_SIZES.length % ZERO_STEPS.length)];
            pool.data().zeroer().step = zeroStep;
            Model model = new Model();
            model.synced(pool.info().generation());
            for (int round = 0; round < roundsPerEpisode && done < crashPoints; round++, done++) {
                String where = "episode " + episode + " (seed 0x" + Long.toHexString(seed) + ") round " + round;
                sim.armPowerCut(1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 60));
                boolean crashedInSync = runUntilPowerLoss(pool, model, rnd, where, bs, ops);
                inSync += crashedInSync ? 1 : 0;
                CrashReport report = sim.crash();
                torn += report.tornWrites();
                sim = CrashSimulator.wrap(disk, seed ^ (round + 1) * 0x9E3779B97F4A7C15L);
                try {
                    pool = Pool.open(sim);
                    pool.data().zeroer().step = zeroStep;
                    verify(pool, model, crashedInSync, where + " " + report);
                } catch (AssertionError | IOException | RuntimeException e) {
                    throw new AssertionError(where + " after " + report + ": " + e + "\n" + Seeds.reproduceWith(test),
                            e);
                }
            }
            sim.close();
            episode++;
        }
        StringBuilder counts = new StringBuilder();
        for (Op op : Op.values()) {
            counts.append(counts.isEmpty() ? "" : ", ").append(op.name().toLowerCase()).append(' ').append(ops[op.ordinal()]);
        }
        System.out.println("crash points: " + done + " in " + episode + " episodes, " + inSync
                + " inside a sync, " + torn + " torn writes; operations that returned: " + counts);
        assertThat(done).isGreaterThanOrEqualTo(crashPoints);
        if (only == null) {
            for (Op op : Op.values()) {
                assertThat(ops[op.ordinal()]).as("%s operations that returned (%s)", op, counts).isPositive();
            }
        }
    }

    /** Runs random operations until the power is cut; returns whether that happened inside a sync. */
    private static boolean runUntilPowerLoss(Pool pool, Model m, Random rnd, String where, int bs, long[] ops)
            throws IOException {
        for (int step = 0; step < 400; step++) {
            int op = rnd.nextInt(100);
            if (TRACE) {
                System.out.println(where + " step " + step + " op " + op + " volumes " + m.current.keySet());
            }
            List<String> writable = new ArrayList<>();
            m.current.forEach((k, v) -> {
                if (!v.kind().readOnly()) {
                    writable.add(k);
                }
            });
            List<String> all = new ArrayList<>(m.current.keySet());
            if (all.isEmpty() || (op < 4 && m.current.size() < 12)) {
                String name = "v" + m.names++ + "_" + rnd.nextInt(1000);
                int size = (8 + rnd.nextInt(48)) * 4096 + (rnd.nextBoolean() ? 0 : SECTOR * (1 + rnd.nextInt(7)));
                try {
                    pool.createVolume(name, size);
                    m.current.put(name, new Vol(VolumeKind.VOLUME, new byte[size]));
                    ops[Op.CREATE.ordinal()]++;
                } catch (NoSpaceException full) {
                    // the catalog could not grow; nothing changed
                }
            } else if (op < 10 && m.current.size() < 16) {
                VolumeKind kind = op < 7 ? VolumeKind.SNAPSHOT : VolumeKind.CLONE;
                if (snapshotOrClone(pool, m, rnd, all, kind)) {
                    ops[(kind == VolumeKind.SNAPSHOT ? Op.SNAPSHOT : Op.CLONE).ordinal()]++;
                }
            } else if (op < 18) {
                if (sync(pool, m, where)) {
                    return true;
                }
                ops[Op.SYNC.ordinal()]++;
            } else if (op < 22 && all.size() > 1) {
                String name = all.get(rnd.nextInt(all.size()));
                try {
                    if (TRACE) {
                        System.out.println("  delete " + name);
                    }
                    pool.delete(name);
                } catch (IOException powerLoss) {
                    return false; // delete touches no device, but a failed pool refuses it
                }
                m.current.remove(name);
                ops[Op.DELETE.ordinal()]++;
            } else if (op < 27 && !writable.isEmpty()) {
                if (!zeroRange(pool, m, rnd, writable, ops)) {
                    return false;
                }
            } else if (op < 30 && !writable.isEmpty()) {
                String name = writable.get(rnd.nextInt(writable.size()));
                if (!resize(pool, m, rnd, name, bs, ops)) {
                    return false;
                }
            } else if (op < 31) {
                long size = pool.info().totalBytes();
                if (size < (4L << 20)) {
                    m.syncing = Model.copy(m.current);
                    m.syncingSeq = m.seq;
                    try {
                        pool.grow(size + (64 << 10));
                    } catch (IOException powerLoss) {
                        return true; // grow commits: the power went during that sync
                    }
                    m.synced(pool.info().generation());
                    ops[Op.POOL_GROW.ordinal()]++;
                }
            } else if (!writable.isEmpty()) {
                String name = writable.get(rnd.nextInt(writable.size()));
                Vol v = m.current.get(name);
                int sectors = v.content().length / SECTOR;
                int length = SECTOR * (1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 24 : 4));
                length = Math.min(length, sectors * SECTOR);
                int offset = SECTOR * rnd.nextInt(sectors - length / SECTOR + 1);
                byte[] data = new byte[length];
                rnd.nextBytes(data);
                boolean fua = op >= 95;
                m.seq++;
                m.writes.add(new Written(m.seq, name, offset, data));
                if (fua) {
                    // durable on return: the commit inside it makes the state with this write durable
                    m.syncing = Model.copy(m.current);
                    System.arraycopy(data, 0, m.syncing.get(name).content(), offset, length);
                    m.syncingSeq = m.seq;
                }
                try (Device d = pool.openVolume(name)) {
                    if (TRACE) {
                        System.out.println("  " + (fua ? "FUA " : "") + "write " + name + " [" + offset + ", "
                                + (offset + length) + ")");
                    }
                    d.write(ByteBuffer.wrap(data), offset, fua ? WriteFlag.FUA : WriteFlag.NONE);
                } catch (NoSpaceException full) {
                    m.writes.removeLast();
                    m.syncing = null;
                    continue;
                } catch (IOException powerLoss) {
                    return fua; // a FUA write is a sync: the power may have gone inside its commit
                }
                System.arraycopy(data, 0, v.content(), offset, length);
                if (fua) {
                    m.synced(pool.info().generation());
                    ops[Op.FUA_WRITE.ordinal()]++;
                } else {
                    ops[Op.WRITE.ordinal()]++;
                }
            }
        }
        return false;
    }

    /** Discard or write-zeroes (with or without unmap) of a sector-aligned range; false on power loss. */
    private static boolean zeroRange(Pool pool, Model m, Random rnd, List<String> writable, long[] ops) {
        String name = writable.get(rnd.nextInt(writable.size()));
        Vol v = m.current.get(name);
        int sectors = v.content().length / SECTOR;
        if (sectors == 0) {
            return true;
        }
        int length = SECTOR * (1 + rnd.nextInt(Math.min(sectors, 80)));
        int offset = SECTOR * rnd.nextInt(sectors - length / SECTOR + 1);
        int kind = rnd.nextInt(3);
        m.seq++;
        m.writes.add(new Written(m.seq, name, offset, new byte[length]));
        try (Device d = pool.openVolume(name)) {
            if (TRACE) {
                System.out.println("  zero kind " + kind + " " + name + " [" + offset + ", " + (offset + length) + ")");
            }
            switch (kind) {
                case 0 -> d.discard(offset, length);
                case 1 -> d.writeZeroes(offset, length, true);
                default -> d.writeZeroes(offset, length, false);
            }
        } catch (NoSpaceException full) {
            m.writes.removeLast();
            return true;
        } catch (IOException powerLoss) {
            return false;
        }
        Arrays.fill(v.content(), offset, offset + length, (byte) 0);
        ops[(kind == 0 ? Op.DISCARD : kind == 1 ? Op.ZEROES_UNMAP : Op.ZEROES_KEEP).ordinal()]++;
        return true;
    }

    /**
     * Online resize to a sector multiple (growing reads zeros; the rest of the old last block is
     * zeroed, which the model records as a write of zeros). False on power loss.
     */
    private static boolean resize(Pool pool, Model m, Random rnd, String name, int bs, long[] ops) {
        Vol v = m.current.get(name);
        int oldSize = v.content().length;
        int newSize = (1 + rnd.nextInt(64)) * 4096 - (rnd.nextBoolean() ? 0 : SECTOR * rnd.nextInt(7));
        int tailEnd = Math.min(newSize, (oldSize + bs - 1) / bs * bs);
        if (tailEnd > oldSize) {
            // growing zeroes the rest of the old last block, possibly in place: like a write of zeros
            m.seq++;
            m.writes.add(new Written(m.seq, name, oldSize, new byte[tailEnd - oldSize]));
        }
        try (Device d = pool.openVolume(name)) {
            if (TRACE) {
                System.out.println("  resize " + name + " " + oldSize + " -> " + newSize);
            }
            d.resize(newSize);
        } catch (NoSpaceException full) {
            return true; // nothing changed (the zero-write record only loosens the check)
        } catch (IOException powerLoss) {
            return false;
        }
        m.current.put(name, new Vol(v.kind(), Arrays.copyOf(v.content(), newSize)));
        ops[Op.RESIZE.ordinal()]++;
        return true;
    }

    /** Returns whether the snapshot or clone was made. */
    private static boolean snapshotOrClone(Pool pool, Model m, Random rnd, List<String> all, VolumeKind kind)
            throws IOException {
        String source = all.get(rnd.nextInt(all.size()));
        String name = source.replaceAll("@.*", "") + "@" + m.names++ + (kind == VolumeKind.CLONE ? "c" : "s");
        try {
            if (kind == VolumeKind.SNAPSHOT) {
                pool.snapshot(source, name);
            } else {
                pool.clone(source, name);
            }
            m.current.put(name, new Vol(kind, m.current.get(source).content().clone()));
            return true;
        } catch (NoSpaceException full) {
            return false; // nothing changed
        }
    }

    /** Syncs; returns true if the power was cut during it. */
    private static boolean sync(Pool pool, Model m, String where) {
        m.syncing = Model.copy(m.current);
        m.syncingSeq = m.seq;
        try {
            pool.sync();
        } catch (IOException powerLoss) {
            return true;
        }
        m.synced(pool.info().generation());
        return false;
    }

    private static void verify(Pool pool, Model m, boolean crashedInSync, String where) throws IOException {
        long gen = pool.info().generation();
        Map<String, Vol> chosen;
        long point;
        if (gen == m.syncedGeneration) {
            chosen = m.synced;
            point = m.syncedSeq;
        } else if (crashedInSync && gen == m.syncedGeneration + 1) {
            chosen = m.syncing;
            point = m.syncingSeq;
        } else {
            throw new AssertionError("reopened at generation " + gen + ", last completed sync made generation "
                    + m.syncedGeneration + (crashedInSync ? " (crashed inside the next sync)" : ""));
        }
        List<String> names = pool.list().stream().map(VolumeInfo::name).toList();
        assertThat(names).as("volumes after reopen").containsExactlyElementsOf(chosen.keySet());
        Map<String, Vol> actual = new LinkedHashMap<>();
        for (Map.Entry<String, Vol> en : chosen.entrySet()) {
            String name = en.getKey();
            Vol want = en.getValue();
            byte[] have = new byte[want.content().length];
            try (Device d = pool.openVolume(name)) {
                assertThat(d.size()).as("size of '" + name + "'").isEqualTo(want.content().length);
                d.read(ByteBuffer.wrap(have), 0);
                for (Extent x : have.length == 0 ? List.<Extent>of() : d.extents(0, have.length)) {
                    if (x.type().readsAsZeros() && !isZero(have, (int) x.offset(), (int) x.end())) {
                        fail("'" + name + "' reports " + x + " but it does not read as zeros");
                    }
                }
            }
            if (want.kind().readOnly()) {
                if (!Arrays.equals(have, want.content())) {
                    fail("snapshot '" + name + "' changed: first difference at byte " + Arrays.mismatch(have,
                            want.content()));
                }
            } else {
                checkSectors(name, have, want.content(), m.writes, point);
            }
            assertThat(pool.find(name).orElseThrow().kind()).isEqualTo(want.kind());
            actual.put(name, new Vol(want.kind(), have));
        }
        CheckReport report = pool.check();
        assertThat(report.problems()).as("check after reopen").isEmpty();
        m.current = actual;
        m.synced(gen);
    }

    private static boolean isZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static void checkSectors(String name, byte[] have, byte[] base, List<Written> writes, long point) {
        for (int s = 0; s < have.length; s += SECTOR) {
            int end = Math.min(have.length, s + SECTOR);
            if (Arrays.equals(have, s, end, base, s, end)) {
                continue;
            }
            boolean allowed = false;
            for (Written w : writes) {
                if (w.seq() > point && w.name().equals(name) && w.offset() <= s && w.offset() + w.data().length >= end
                        && Arrays.equals(have, s, end, w.data(), s - w.offset(), end - w.offset())) {
                    allowed = true;
                    break;
                }
            }
            if (!allowed) {
                fail("volume '" + name + "' sector at byte " + s + " holds neither its state at the chosen commit"
                        + " nor any later write to it");
            }
        }
    }
}

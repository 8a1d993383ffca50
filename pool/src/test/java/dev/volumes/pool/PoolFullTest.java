package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.fill;
import static dev.volumes.pool.PoolTest.read;
import static dev.volumes.pool.PoolTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Fault;
import dev.volumes.testkit.FaultInjector.Op;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Atomic pool-full behaviour and fail-stop after a failed commit. */
class PoolFullTest {

    private static final int BS = 4096;

    private static byte[] image(MemoryDevice disk) throws IOException {
        byte[] all = new byte[(int) disk.size()];
        disk.read(ByteBuffer.wrap(all), 0);
        return all;
    }

    @Test
    void overcommittedPoolWithSnapshotsRefusesTheWriteThatDoesNotFitAndChangesNothing() throws IOException {
        String test = "PoolFullTest#overcommittedPoolWithSnapshotsRefusesTheWriteThatDoesNotFitAndChangesNothing";
        Random rnd = Seeds.random(test);
        MemoryDevice disk = MemoryDevice.create("disk", 128 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        int size = 1 << 20; // 256 blocks on a pool of ~100 usable: over-committed
        pool.createVolume("vm", size);
        Device vm = pool.openVolume("vm");
        byte[] snapContent = new byte[20 * BS];
        rnd.nextBytes(snapContent);
        write(vm, 0, snapContent);
        pool.snapshot("vm", "vm@1");
        pool.sync();
        NoSpaceException full = null;
        int writes = 0;
        while (full == null) {
            int blocks = 1 + rnd.nextInt(4);
            int offset = BS * rnd.nextInt(256 - blocks);
            byte[] data = fill(blocks * BS - rnd.nextInt(100), 1 + writes % 250);
            byte[] volumeBefore = read(vm, 0, size);
            byte[] diskBefore = image(disk);
            PoolInfo infoBefore = pool.info();
            try {
                write(vm, offset + rnd.nextInt(50), data);
                writes++;
            } catch (NoSpaceException e) {
                full = e;
                assertThat(e.needed()).isGreaterThan(e.available());
                assertThat(e.getMessage()).contains("vm").contains("needs");
                assertThat(read(vm, 0, size)).as("volume unchanged by the refused write").isEqualTo(volumeBefore);
                assertThat(image(disk)).as("backing device unchanged by the refused write").isEqualTo(diskBefore);
                assertThat(pool.info()).isEqualTo(infoBefore);
            }
        }
        assertThat(writes).isGreaterThan(5);
        assertThat(read(pool.openVolume("vm@1"), 0, snapContent.length)).isEqualTo(snapContent);
        assertThat(pool.check().problems()).isEmpty();

        // sync works on a full pool, and so does overwriting blocks the volume owns alone
        pool.sync();
        long owned = firstExclusiveBlock(pool, vm);
        write(vm, owned * BS + 10, fill(100, 77));
        assertThat(read(vm, owned * BS + 10, 100)).containsOnly(77);
        pool.sync();

        // a write that fits still succeeds after the error
        long available = pool.info().freeBlocks();
        if (available >= 2) {
            long hole = firstHole(vm, size);
            write(vm, hole * BS, fill(BS, 88));
            assertThat(read(vm, hole * BS, BS)).containsOnly(88);
        }
        pool.sync();
        byte[] finalContent = read(vm, 0, size);
        Pool again = Pool.open(disk);
        assertThat(again.check().problems()).isEmpty();
        assertThat(read(again.openVolume("vm"), 0, size)).isEqualTo(finalContent);
        assertThat(read(again.openVolume("vm@1"), 0, snapContent.length)).isEqualTo(snapContent);
    }

    @Test
    void multiBlockWriteLargerThanFreeSpaceChangesNoBlock() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 64 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 1 << 20);
        Device v = pool.openVolume("v");
        long free = pool.info().freeBlocks();
        byte[] diskBefore = image(disk);
        byte[] big = fill((int) (free + 1) * BS, 3); // needs free + 1 data blocks plus a node
        assertThatThrownBy(() -> write(v, 0, big)).isInstanceOf(NoSpaceException.class)
                .hasMessageContaining("needs " + (free + 2));
        assertThat(image(disk)).isEqualTo(diskBefore);
        assertThat(read(v, 0, big.length)).containsOnly(0);
        byte[] fits = fill((int) (free - 1) * BS, 4); // free - 1 data blocks + 1 node
        write(v, 0, fits);
        assertThat(read(v, 0, fits.length)).containsOnly(4);
        assertThat(pool.info().freeBlocks()).isZero();
        assertThatThrownBy(() -> write(v, fits.length, fill(1, 1))).isInstanceOf(NoSpaceException.class);
        pool.sync();
        assertThat(Pool.open(disk).check().problems()).isEmpty();
    }

    @Test
    void snapshotAndCloneNeedOnlyCatalogSpaceAndRefuseCleanlyWhenItIsGone() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 64 * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 1 << 20);
        Device v = pool.openVolume("v");
        write(v, 0, fill((int) (pool.info().freeBlocks() - 1) * BS, 9));
        int made = 0;
        try {
            for (; made < 200; made++) {
                pool.snapshot("v", "s" + made);
            }
        } catch (NoSpaceException e) {
            assertThat(e.getMessage()).contains("catalog");
        }
        assertThat(made).isGreaterThan(10);
        pool.sync();
        Pool again = Pool.open(disk);
        assertThat(again.list()).hasSize(made + 1);
        assertThat(again.check().problems()).isEmpty();
    }

    @Test
    void failedCommitStopsLaterChangesWithTheOriginalCauseUntilReopened() throws IOException {
        MemoryDevice disk = MemoryDevice.create("disk", 64 * BS);
        FaultInjector faults = FaultInjector.wrap(disk);
        Pool pool = Pool.create(faults, PoolOptions.builder().blockSize(BS).reserve(16 * BS).build());
        pool.createVolume("v", 64 * BS);
        Device v = pool.openVolume("v");
        write(v, 0, fill(BS, 1));
        pool.sync();
        write(v, BS, fill(BS, 2));
        faults.on(Op.SYNC).nth(1).fail(Fault.EIO);
        IOException cause = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, pool::sync);
        assertThatThrownBy(() -> write(v, 2 * BS, fill(BS, 3))).isInstanceOf(IOException.class)
                .hasMessageContaining("reopen").hasCause(cause);
        assertThatThrownBy(pool::sync).hasCause(cause);
        assertThatThrownBy(() -> pool.snapshot("v", "s")).hasCause(cause);
        assertThatThrownBy(() -> pool.createVolume("w", 4096)).hasCause(cause);
        assertThat(read(v, 0, BS)).containsOnly(1); // reads still work
        Pool again = Pool.open(disk);
        assertThat(read(again.openVolume("v"), 0, BS)).containsOnly(1);
        assertThat(again.check().problems()).isEmpty();
        write(again.openVolume("v"), 2 * BS, fill(BS, 3));
        again.sync();
    }

    private static long firstExclusiveBlock(Pool pool, Device vm) {
        Engine e = pool.engine();
        Volume v = e.volumes.get(vm.name());
        e.meta.readLock().lock();
        try {
            for (long lb = 0; lb < v.size / BS; lb++) {
                if (e.inPlace(v, lb)) {
                    return lb;
                }
            }
        } finally {
            e.meta.readLock().unlock();
        }
        throw new AssertionError("no exclusively owned block");
    }

    private static long firstHole(Device vm, int size) throws IOException {
        return vm.extents(0, size).stream().filter(x -> x.type().readsAsZeros()).findFirst().orElseThrow().offset()
                / BS;
    }
}

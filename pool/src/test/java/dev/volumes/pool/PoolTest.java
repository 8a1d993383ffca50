package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PoolTest {

    static final int BS = 4096;

    static Pool newPool(MemoryDevice disk) throws IOException {
        return Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(16 * BS).label("test").build());
    }

    static byte[] read(Device d, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        d.read(b, offset);
        return b.array();
    }

    static void write(Device d, long offset, byte[] bytes) throws IOException {
        d.write(ByteBuffer.wrap(bytes), offset);
    }

    static byte[] fill(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void newVolumeReadsZerosAndKeepsWritesAcrossReopen() throws IOException {
        MemoryDevice disk = MemoryDevice.create(4 << 20);
        Pool pool = newPool(disk);
        pool.createVolume("vm1", 1 << 20);
        Device v = pool.openVolume("vm1");
        assertThat(read(v, 0, 10000)).containsOnly(0);
        write(v, 4090, fill(20, 7)); // straddles a block boundary
        write(v, 100_000, fill(3 * BS, 9));
        assertThat(read(v, 4090, 20)).containsOnly(7);
        assertThat(read(v, 4080, 10)).containsOnly(0);
        assertThat(read(v, 4110, 10)).containsOnly(0);
        pool.sync();
        Pool again = Pool.open(disk);
        Device w = again.openVolume("vm1");
        assertThat(read(w, 4090, 20)).containsOnly(7);
        assertThat(read(w, 100_000, 3 * BS)).containsOnly(9);
        assertThat(read(w, 0, 4090)).containsOnly(0);
        assertThat(again.check().problems()).isEmpty();
        assertThat(again.info().label()).isEqualTo("test");
        assertThat(again.info().uuid()).isEqualTo(pool.info().uuid());
    }

    @Test
    void snapshotIsImmutableAndCloneDiverges() throws IOException {
        MemoryDevice disk = MemoryDevice.create(4 << 20);
        Pool pool = newPool(disk);
        pool.createVolume("base", 64 * BS);
        Device base = pool.openVolume("base");
        write(base, 0, fill(2 * BS, 1));
        VolumeInfo snap = pool.snapshot("base", "base@1");
        assertThat(snap.kind()).isEqualTo(VolumeKind.SNAPSHOT);
        assertThat(snap.origin()).isEqualTo(Optional.of("base"));
        write(base, 0, fill(BS, 2));
        Device s = pool.openVolume("base@1");
        assertThat(s.capabilities().has(Capability.READ_ONLY)).isTrue();
        assertThatThrownBy(() -> write(s, 0, fill(1, 1))).isInstanceOf(ReadOnlyDeviceException.class);
        assertThat(read(s, 0, 2 * BS)).containsOnly(1);
        assertThat(read(base, 0, BS)).containsOnly(2);
        pool.clone("base@1", "c1");
        Device c = pool.openVolume("c1");
        write(c, BS, fill(10, 5));
        assertThat(read(c, BS, 10)).containsOnly(5);
        assertThat(read(s, BS, 10)).containsOnly(1);
        assertThat(read(base, BS, 10)).containsOnly(1);
        assertThat(pool.check().problems()).isEmpty();
        pool.sync();
        Pool again = Pool.open(disk);
        assertThat(read(again.openVolume("base@1"), 0, 2 * BS)).containsOnly(1);
        assertThat(read(again.openVolume("c1"), BS, 10)).containsOnly(5);
        assertThat(again.list()).extracting(VolumeInfo::name).containsExactly("base", "base@1", "c1");
        assertThat(again.check().problems()).isEmpty();
    }

    @Test
    void namesAreValidatedAndDuplicatesRefused() throws IOException {
        Pool pool = newPool(MemoryDevice.create(2 << 20));
        for (String bad : new String[] {"", ".", "..", "-x", "a/b", "a b", "x".repeat(65), "é"}) {
            assertThatThrownBy(() -> pool.createVolume(bad, 4096)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("volume name");
        }
        pool.createVolume("ok.name_1-2", 4096);
        assertThatThrownBy(() -> pool.createVolume("ok.name_1-2", 4096)).isInstanceOf(VolumeExistsException.class)
                .hasMessageContaining("ok.name_1-2");
        assertThatThrownBy(() -> pool.snapshot("missing", "s")).isInstanceOf(VolumeNotFoundException.class);
        assertThatThrownBy(() -> pool.snapshot("ok.name_1-2", "ok.name_1-2")).isInstanceOf(VolumeExistsException.class);
        assertThatThrownBy(() -> pool.openVolume("nope")).isInstanceOf(VolumeNotFoundException.class);
    }

    @Test
    void boundsAndCloseAreEnforced() throws IOException {
        Pool pool = newPool(MemoryDevice.create(2 << 20));
        pool.createVolume("v", 10_000);
        Device v = pool.openVolume("v");
        assertThat(v.size()).isEqualTo(10_000);
        assertThatThrownBy(() -> write(v, 9_999, new byte[2])).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> read(v, 10_001, 0)).isInstanceOf(OutOfRangeException.class);
        write(v, 9_998, new byte[] {1, 2});
        assertThat(read(v, 9_998, 2)).containsExactly(1, 2);
        pool.close();
        assertThatThrownBy(() -> read(v, 0, 1)).isInstanceOf(DeviceClosedException.class);
        assertThatThrownBy(() -> pool.openVolume("v")).isInstanceOf(DeviceClosedException.class);
    }

    @Test
    void extentsReportHolesAndData() throws IOException {
        Pool pool = newPool(MemoryDevice.create(2 << 20));
        pool.createVolume("v", 8 * BS);
        Device v = pool.openVolume("v");
        write(v, 2 * BS + 5, new byte[] {1});
        assertThat(v.extents(0, 8 * BS)).containsExactly(new Extent(0, 2 * BS, Extent.Type.HOLE),
                new Extent(2 * BS, BS, Extent.Type.DATA), new Extent(3 * BS, 5 * BS, Extent.Type.HOLE));
    }

    @Test
    void randomWritesMatchAModelAcrossSnapshotsAndReopen() throws IOException {
        Random r = new Random(42);
        MemoryDevice disk = MemoryDevice.create(8 << 20);
        Pool pool = newPool(disk);
        int size = 200 * BS + 123;
        pool.createVolume("v", size);
        byte[] model = new byte[size];
        Device v = pool.openVolume("v");
        List<byte[]> snaps = new java.util.ArrayList<>();
        for (int i = 0; i < 400; i++) {
            int len = 1 + r.nextInt(3 * BS);
            int off = r.nextInt(size - len);
            byte[] data = new byte[len];
            r.nextBytes(data);
            write(v, off, data);
            System.arraycopy(data, 0, model, off, len);
            if (i % 50 == 0) {
                pool.snapshot("v", "s" + snaps.size());
                snaps.add(model.clone());
            }
            if (i % 70 == 0) {
                pool.sync();
            }
        }
        assertThat(read(v, 0, size)).isEqualTo(model);
        pool.sync();
        Pool again = Pool.open(disk);
        assertThat(read(again.openVolume("v"), 0, size)).isEqualTo(model);
        for (int i = 0; i < snaps.size(); i++) {
            assertThat(read(again.openVolume("s" + i), 0, size)).as("snapshot s" + i).isEqualTo(snaps.get(i));
        }
        assertThat(again.check().problems()).isEmpty();
    }
}

package dev.volumes.pool;

import static dev.volumes.pool.PoolTest.read;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Lifecycle operations concurrently: writers that also discard, write zeroes and resize their own
 * volume (each with an exact model), a thread that snapshots, clones and deletes, a thread that
 * syncs and runs check (which must stay clean while writes are in flight), and a reader of the
 * snapshots. Ends with every volume equal to its model, before and after a reopen.
 */
class LifecycleConcurrencyTest {

    private static final int BS = 4096;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void writersDiscardsResizesSnapshotsDeletesSyncsAndChecksRunTogether() throws Exception {
        String test = "LifecycleConcurrencyTest#writersDiscardsResizesSnapshotsDeletesSyncsAndChecksRunTogether";
        long seed = Seeds.forTest(test);
        MemoryDevice disk = MemoryDevice.create("disk", 4096L * BS);
        Pool pool = Pool.create(disk, PoolOptions.builder().blockSize(BS).reserve(32 * BS).build());
        int writers = 3;
        int ops = Seeds.scaled(400);
        byte[][] models = new byte[writers][];
        for (int w = 0; w < writers; w++) {
            pool.createVolume("w" + w, 64L * BS);
            models[w] = new byte[64 * BS];
        }
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicBoolean done = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            int id = w;
            threads.add(Thread.ofPlatform().start(() -> {
                Random rnd = new Random(seed + id);
                try (Device d = pool.openVolume("w" + id)) {
                    for (int i = 0; i < ops; i++) {
                        models[id] = step(d, models[id], rnd);
                    }
                } catch (Throwable t) {
                    errors.add(t);
                }
            }));
        }
        threads.add(Thread.ofPlatform().start(() -> {
            Random rnd = new Random(seed + 100);
            List<String> branches = new ArrayList<>();
            int n = 0;
            try {
                while (!done.get()) {
                    String source = "w" + rnd.nextInt(writers);
                    String name = "b" + n++;
                    try {
                        if (rnd.nextBoolean()) {
                            pool.snapshot(source, name);
                        } else {
                            pool.clone(source, name);
                        }
                        branches.add(name);
                    } catch (NoSpaceException full) {
                        // catalog growth refused; fine
                    }
                    if (branches.size() > 4) {
                        String victim = branches.remove(rnd.nextInt(branches.size()));
                        try (Device d = pool.openVolume(victim)) {
                            read(d, 0, (int) Math.min(d.size(), 16 * BS));
                        }
                        pool.delete(victim);
                    }
                    Thread.sleep(1);
                }
            } catch (Throwable t) {
                errors.add(t);
            }
        }));
        threads.add(Thread.ofPlatform().start(() -> {
            try {
                int i = 0;
                while (!done.get()) {
                    pool.sync();
                    if (i++ % 5 == 0) {
                        CheckReport r = pool.check();
                        if (!r.clean()) {
                            errors.add(new AssertionError("concurrent check: " + r.problems()));
                        }
                    }
                    Thread.sleep(2);
                }
            } catch (Throwable t) {
                errors.add(t);
            }
        }));
        for (int w = 0; w < writers; w++) {
            threads.get(w).join();
        }
        done.set(true);
        for (Thread t : threads) {
            t.join();
        }
        assertThat(errors).as(Seeds.reproduceWith(test)).isEmpty();
        for (int w = 0; w < writers; w++) {
            try (Device d = pool.openVolume("w" + w)) {
                assertThat(d.size()).isEqualTo(models[w].length);
                assertThat(read(d, 0, models[w].length)).isEqualTo(models[w]);
            }
        }
        pool.sync();
        assertThat(pool.check().problems()).isEmpty();
        Pool reopened = Pool.open(disk);
        for (int w = 0; w < writers; w++) {
            assertThat(read(reopened.openVolume("w" + w), 0, models[w].length)).isEqualTo(models[w]);
        }
        assertThat(reopened.check().problems()).isEmpty();
    }

    /** One random operation on a writer's own volume; returns the new model. */
    private static byte[] step(Device d, byte[] model, Random rnd) throws IOException {
        int size = model.length;
        int op = rnd.nextInt(10);
        if (op < 5 || size == 0) {
            if (size == 0) {
                d.resize(16L * BS);
                return new byte[16 * BS];
            }
            int length = 1 + rnd.nextInt(Math.min(size, 6 * BS));
            int offset = rnd.nextInt(size - length + 1);
            byte[] data = new byte[length];
            rnd.nextBytes(data);
            try {
                d.write(ByteBuffer.wrap(data), offset);
            } catch (NoSpaceException full) {
                return model;
            }
            System.arraycopy(data, 0, model, offset, length);
            return model;
        }
        if (op < 8) {
            int length = rnd.nextInt(size);
            int offset = rnd.nextInt(size - length + 1);
            try {
                switch (op) {
                    case 5 -> d.discard(offset, length);
                    case 6 -> d.writeZeroes(offset, length, true);
                    default -> d.writeZeroes(offset, length, false);
                }
            } catch (NoSpaceException full) {
                return model;
            }
            Arrays.fill(model, offset, offset + length, (byte) 0);
            return model;
        }
        int newSize = rnd.nextInt(128) * BS + (rnd.nextBoolean() ? 0 : rnd.nextInt(BS));
        try {
            d.resize(newSize);
        } catch (NoSpaceException full) {
            return model;
        }
        return Arrays.copyOf(model, newSize);
    }
}

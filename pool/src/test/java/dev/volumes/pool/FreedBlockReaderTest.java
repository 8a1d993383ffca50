package dev.volumes.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.NoSpaceException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A reader of a clone that looked up a shared block must never see that block after it was freed
 * and reused by another volume, even when the clone dropped its reference first and the origin
 * dropped the last one later (found in review; the drain used to cover only the last dropper).
 */
class FreedBlockReaderTest {

    private static final int BS = 4096;

    /** Pauses the thread named "reader" inside its read of one chosen block. */
    private static final class PausingDevice extends ForwardingDevice {
        volatile long pauseAt = -1;
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch resume = new CountDownLatch(1);

        PausingDevice(Device d) {
            super(d);
        }

        @Override
        public void read(ByteBuffer dst, long offset) throws IOException {
            if (offset == pauseAt && Thread.currentThread().getName().equals("reader")) {
                entered.countDown();
                try {
                    resume.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            super.read(dst, offset);
        }
    }

    private static ByteBuffer filled(char c) {
        ByteBuffer b = ByteBuffer.allocate(BS);
        while (b.hasRemaining()) {
            b.put((byte) c);
        }
        return b.flip();
    }

    @Test
    void aCloneReaderNeverSeesAnotherVolumesBytesInABlockItStillReads() throws Exception {
        PausingDevice backing = new PausingDevice(MemoryDevice.create(8L << 20));
        Pool pool = Pool.create(backing, PoolOptions.builder().blockSize(BS).reserve(0).build());
        pool.createVolume("A", 1 << 20);
        Device a = pool.openVolume("A");
        a.write(filled('A'), 0);
        pool.sync();
        pool.clone("A", "C");
        pool.sync();
        Device c = pool.openVolume("C");
        Engine e = pool.engine();
        long shared;
        e.meta.readLock().lock();
        try {
            shared = e.lookup(e.volumes.get("C"), 0);
        } finally {
            e.meta.readLock().unlock();
        }
        backing.pauseAt = shared * BS;

        ByteBuffer got = ByteBuffer.allocate(BS);
        Thread reader = new Thread(() -> {
            try {
                c.read(got, 0);
            } catch (IOException x) {
                throw new UncheckedIOException(x);
            }
        }, "reader");
        reader.start();
        assertThat(backing.entered.await(30, TimeUnit.SECONDS)).isTrue();
        c.write(filled('c'), 0); // C drops its reference to the shared block first...
        a.write(filled('a'), 0); // ...then A drops the last one

        Thread churn = Thread.ofPlatform().start(() -> {
            try {
                pool.sync();
                pool.sync();
                pool.sync();
                for (int vol = 0; ; vol++) {
                    pool.createVolume("B" + vol, 256L * BS);
                    try (Device b = pool.openVolume("B" + vol)) {
                        for (int i = 0; i < 256; i++) {
                            b.write(filled('B'), (long) i * BS);
                        }
                    }
                    pool.sync();
                }
            } catch (NoSpaceException full) {
                // the pool is full: every free block, the shared one included if released, was reused
            } catch (IOException x) {
                throw new UncheckedIOException(x);
            }
        });
        churn.join(2000); // with the bug the block is freed and reused well within this
        backing.resume.countDown();
        reader.join(30_000);
        churn.join(60_000);
        assertThat((char) got.get(0)).as("clone reader saw old ('A') or new ('c') bytes, never another volume's")
                .isIn('A', 'c');
        pool.close();
    }
}

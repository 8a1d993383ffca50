package dev.volumes.ha;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A one-replica stand-in for term-fenced storage in unit tests: it remembers the highest term it
 * promised and refuses writes and syncs of older sessions, checking and writing under one lock
 * as a replica server does. Not the replication engine; the end-to-end tests use the real one.
 */
final class FencedStore {

    private final MemoryDevice data;
    private long promised; // guarded by this
    private final ThreadLocal<Long> lastTerm = ThreadLocal.withInitial(() -> 0L);

    FencedStore(long size) {
        this.data = MemoryDevice.create("store", size);
    }

    /** Promises {@code term} and returns a session of it; refuses a term older than the promise. */
    synchronized Device claim(long term) throws IOException {
        if (term < promised) {
            throw new IOException("store fenced: term " + term + " refused, term " + promised + " promised");
        }
        promised = term;
        return session(term);
    }

    /** A session of {@code term} without promising it (a deposed writer's old connection). */
    Device session(long term) {
        return new ForwardingDevice(data) {
            @Override
            public void write(ByteBuffer src, long offset) throws IOException {
                synchronized (FencedStore.this) {
                    check(term);
                    super.write(src, offset);
                    lastTerm.set(term);
                }
            }

            @Override
            public void write(ByteBuffer src, long offset, dev.volumes.device.WriteFlag flag) throws IOException {
                synchronized (FencedStore.this) {
                    check(term);
                    super.write(src, offset, flag);
                    lastTerm.set(term);
                }
            }

            @Override
            public void sync() throws IOException {
                synchronized (FencedStore.this) {
                    check(term);
                }
            }

            @Override
            public void close() {
                // the session ends; the store lives on
            }
        };
    }

    private void check(long term) throws IOException {
        if (term < promised) {
            throw new IOException("store fenced: write of term " + term + " refused, term " + promised + " promised");
        }
    }

    /** The term of the session of this thread's last successful write. */
    long lastWriteTerm() {
        return lastTerm.get();
    }

    /** The whole content, for the history check. */
    ByteBuffer content() throws IOException {
        ByteBuffer all = ByteBuffer.allocate((int) data.size());
        data.read(all, 0);
        return all.flip();
    }
}

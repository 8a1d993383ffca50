package dev.volumes.replica;

import dev.volumes.device.Device;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Two alternating slots of {@link StateRecord} on a device (the file {@code replication.state}
 * in the state directory). A commit writes the slot the current one is not in, then syncs the
 * device; open takes the valid slot with the higher sequence. A torn or lost commit therefore
 * leaves the previous record current, never a mix.
 *
 * <p>Thread-safe: {@link #commit} is synchronized (callers batch several changes into one
 * commit). Blocking: a commit is one slot write plus one device sync.
 */
final class StateStore implements Closeable {

    private final Device device;
    private final int slotSize;
    private StateRecord current;
    private String problems = "";

    private StateStore(Device device, int slotSize) {
        this.device = device;
        this.slotSize = slotSize;
    }

    /**
     * Opens the store; {@link #current()} is null when neither slot holds a valid record for a
     * device of {@code dataSize} bytes with {@code regionSize} regions.
     *
     * @throws IOException if the device is smaller than two slots or cannot be read
     */
    static StateStore open(Device device, long dataSize, long regionSize) throws IOException {
        int slot = StateRecord.slotSize(dataSize, regionSize);
        if (device.size() < 2L * slot) {
            throw new IOException("state device " + device.name() + " holds " + device.size()
                    + " bytes, needs " + 2L * slot + " for two state slots");
        }
        StateStore store = new StateStore(device, slot);
        StringBuilder problems = new StringBuilder();
        for (int i = 0; i < 2; i++) {
            ByteBuffer buf = ByteBuffer.allocate(slot);
            device.read(buf, (long) i * slot);
            if (allZero(buf.array())) {
                continue;
            }
            try {
                StateRecord r = StateRecord.decode(buf.array(), device.name() + " slot " + i);
                if (r.dataSize() != dataSize || r.regionSize() != regionSize) {
                    problems.append("slot ").append(i).append(" is for ").append(r.dataSize()).append(" bytes / ")
                            .append(r.regionSize()).append("-byte regions; ");
                } else if (store.current == null || r.sequence() > store.current.sequence()) {
                    store.current = r;
                }
            } catch (IOException e) {
                problems.append(e.getMessage()).append("; ");
            }
        }
        store.problems = problems.toString();
        return store;
    }

    private static boolean allZero(byte[] a) {
        for (byte x : a) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** The current record, or null if there is none. */
    synchronized StateRecord current() {
        return current;
    }

    /** What was wrong with ignored slots at open (empty if nothing). */
    String problems() {
        return problems;
    }

    /**
     * Makes {@code next} (its sequence replaced by the next one) the durable current record.
     *
     * @return the record as committed
     * @throws IOException if the write or sync failed; the previous record stays current on disk
     */
    synchronized StateRecord commit(StateRecord next) throws IOException {
        long seq = current == null ? 1 : current.sequence() + 1;
        StateRecord r = new StateRecord(seq, next.term(), next.generation(), next.regionSize(), next.dataSize(),
                next.members(), next.bitmap());
        device.write(ByteBuffer.wrap(r.encode()), (seq % 2) * slotSize);
        device.sync();
        current = r;
        return r;
    }

    static long deviceSize(long dataSize, long regionSize) {
        return 2L * StateRecord.slotSize(dataSize, regionSize);
    }

    @Override
    public void close() throws IOException {
        device.close();
    }
}

package dev.volumes.replica;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Appends every completed mutating call and sync of the wrapped device to a shared {@link Log},
 * in completion order, with a value sampled right after the call returned (for example the
 * engine's state of this replica): ordering claims become assertions on one sequence.
 */
final class RecordingDevice extends ForwardingDevice {

    enum Kind { WRITE, WRITE_ZEROES, DISCARD, SYNC, ACK }

    /** One completed call; {@code observed} was sampled after it returned. */
    record Event(int index, String device, Kind kind, long offset, long length, WriteFlag flag, String observed) {
        boolean isDataWrite(long dataSize) {
            return (kind == Kind.WRITE || kind == Kind.WRITE_ZEROES || kind == Kind.DISCARD) && offset < dataSize;
        }
    }

    /** A shared, ordered event list. */
    static final class Log {
        private final List<Event> events = new ArrayList<>();

        synchronized Event add(String device, Kind kind, long offset, long length, WriteFlag flag, String observed) {
            Event e = new Event(events.size(), device, kind, offset, length, flag, observed);
            events.add(e);
            return e;
        }

        /** Marks an acknowledgement seen by the caller (for example a write that returned). */
        Event ack(String what) {
            return add(what, Kind.ACK, 0, 0, WriteFlag.NONE, "");
        }

        synchronized List<Event> events() {
            return List.copyOf(events);
        }

        synchronized List<Event> of(String device) {
            return events.stream().filter(e -> e.device().equals(device)).toList();
        }

        synchronized void clear() {
            events.clear();
        }
    }

    private final String id;
    private final Log log;
    private final Supplier<String> observe;

    RecordingDevice(String id, Device device, Log log, Supplier<String> observe) {
        super(device);
        this.id = id;
        this.log = log;
        this.observe = observe;
    }

    private void record(Kind kind, long offset, long length, WriteFlag flag) {
        log.add(id, kind, offset, length, flag, observe.get());
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        write(src, offset, WriteFlag.NONE);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        int n = src.remaining();
        super.write(src, offset, flag);
        record(Kind.WRITE, offset, n, flag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        super.writeZeroes(offset, length, mayUnmap);
        record(Kind.WRITE_ZEROES, offset, length, WriteFlag.NONE);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        super.discard(offset, length);
        record(Kind.DISCARD, offset, length, WriteFlag.NONE);
    }

    @Override
    public void sync() throws IOException {
        super.sync();
        record(Kind.SYNC, 0, 0, WriteFlag.NONE);
    }
}

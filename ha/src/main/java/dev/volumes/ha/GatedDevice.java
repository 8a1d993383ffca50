package dev.volumes.ha;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * {@link Controller#gate}: a Device that lets modifying operations through only while its
 * controller leads. Design: one volatile read of the controller status per operation, no lock;
 * the check and the forwarded operation are not atomic (a lease can be lost in between), which is
 * why the storage under the gate must itself refuse older terms. Thread-safe.
 */
final class GatedDevice extends ForwardingDevice {

    private final Controller controller;
    private final ReadPolicy reads;

    GatedDevice(Device delegate, Controller controller, ReadPolicy reads) {
        super(delegate);
        if (controller == null || reads == null) {
            throw new IllegalArgumentException("a gated device needs a controller and a read policy");
        }
        this.controller = controller;
        this.reads = reads;
    }

    private void requireLeader(String operation) throws NotLeaderException {
        ControllerStatus s = controller.status();
        if (!s.leading()) {
            controller.countRefusal();
            throw new NotLeaderException(name(), operation, controller.nodeId(), s.state(), s.term());
        }
    }

    private void requireReadable(String operation) throws NotLeaderException {
        if (reads == ReadPolicy.LEADER_ONLY) {
            requireLeader(operation);
        }
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        requireReadable("read");
        super.read(dst, offset);
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        requireReadable("extents");
        return super.extents(offset, length);
    }

    @Override
    public void prefetch(long offset, long length) throws IOException {
        requireReadable("prefetch");
        super.prefetch(offset, length);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        requireLeader("write");
        super.write(src, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
        requireLeader("write");
        super.write(src, offset, flag);
    }

    @Override
    public void sync() throws IOException {
        requireLeader("sync");
        super.sync();
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        requireLeader("write-zeroes");
        super.writeZeroes(offset, length, mayUnmap);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        requireLeader("discard");
        super.discard(offset, length);
    }

    @Override
    public void resize(long newSize) throws IOException {
        requireLeader("resize");
        super.resize(newSize);
    }

    @Override
    public String toString() {
        return "GatedDevice[" + controller.nodeId() + ", " + reads + ", " + delegate() + "]";
    }
}

package dev.volumes.nbd;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Hand-written device decorators for tests. */
final class TestDevices {

    private TestDevices() {}

    /** A device whose writes and write-zeroes fail with {@link NoSpaceException}, as a full pool would. */
    static Device full(Device d) {
        return new ForwardingDevice(d) {
            @Override
            public void write(ByteBuffer src, long offset) throws IOException {
                throw new NoSpaceException(name(), "write", src.remaining(), 0, "bytes");
            }

            @Override
            public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                write(src, offset);
            }

            @Override
            public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
                throw new NoSpaceException(name(), "write-zeroes", length, 0, "bytes");
            }
        };
    }

    /** A read-only view. */
    static Device readOnly(Device d) {
        return new ForwardingDevice(d) {
            @Override
            public Capabilities capabilities() {
                return delegate().capabilities().with(Capability.READ_ONLY);
            }

            @Override
            public void write(ByteBuffer src, long offset) throws IOException {
                throw new ReadOnlyDeviceException(name(), "write");
            }

            @Override
            public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                write(src, offset);
            }

            @Override
            public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
                throw new ReadOnlyDeviceException(name(), "write-zeroes");
            }

            @Override
            public void discard(long offset, long length) throws IOException {
                throw new ReadOnlyDeviceException(name(), "discard");
            }
        };
    }
}

package dev.volumes.device;

import java.nio.ByteBuffer;

/** The range checks every {@link Device} performs before touching anything. */
public final class Bounds {

    private Bounds() {}

    /**
     * Checks a request of {@code length} bytes at {@code offset} against a device of {@code size}
     * bytes.
     *
     * @param device the device, named in the error
     * @param operation the operation, named in the error ("read", "write", ...)
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative
     * @throws OutOfRangeException if the range extends past {@code size}
     */
    public static void checkRange(Device device, String operation, long offset, long length, long size)
            throws OutOfRangeException {
        checkRange(device.name(), operation, offset, length, size);
    }

    /** As {@link #checkRange(Device, String, long, long, long)} with the device given by name. */
    public static void checkRange(String deviceName, String operation, long offset, long length, long size)
            throws OutOfRangeException {
        if (offset < 0) {
            throw new IllegalArgumentException(operation + " on '" + deviceName + "': negative offset " + offset);
        }
        if (length < 0) {
            throw new IllegalArgumentException(operation + " on '" + deviceName + "': negative length " + length);
        }
        if (offset > size || length > size - offset) {
            throw new OutOfRangeException(deviceName, operation, offset, length, size);
        }
    }

    /** Checks that {@code buffer} is not null; the message names the operation. */
    public static ByteBuffer checkBuffer(ByteBuffer buffer, String operation) {
        if (buffer == null) {
            throw new IllegalArgumentException(operation + ": buffer is null");
        }
        return buffer;
    }
}

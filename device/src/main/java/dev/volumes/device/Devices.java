package dev.volumes.device;

import java.io.IOException;

/**
 * Views over existing devices. A view forwards every operation to the device it wraps and keeps
 * its own open/closed state: closing a view closes only the view (later calls on it throw
 * {@link DeviceClosedException}); the wrapped device stays open and its owner closes it. Views
 * are as thread-safe as the device they wrap, which every Device is.
 */
public final class Devices {

    private static final int SECTOR = 512;

    private Devices() {}

    /**
     * A read-only view of {@code device}: reads, extents, prefetch and sync are forwarded; write,
     * FUA write, write-zeroes, discard and resize throw {@link ReadOnlyDeviceException};
     * {@link Device#capabilities()} reports {@link Capability#READ_ONLY} and drops the
     * capabilities that only concern writing.
     *
     * @throws IllegalArgumentException if {@code device} is null
     */
    public static Device readOnly(Device device) {
        return new ReadOnlyView(device);
    }

    /**
     * A window of {@code length} bytes of {@code device} starting at {@code offset}: offset 0 of
     * the view is {@code offset} of the device. Every ranged operation is checked against the
     * view's own bounds (so it can never touch bytes outside the window) and translated, extents
     * included. The view has a fixed size: resize throws {@link UnsupportedDeviceOperationException}
     * and {@link Capability#RESIZE} is not reported.
     *
     * @throws IllegalArgumentException if {@code device} is null or {@code offset}/{@code length}
     *     is negative
     * @throws OutOfRangeException if the window extends past the end of {@code device}
     * @throws DeviceClosedException if {@code device} is closed
     */
    public static Device slice(Device device, long offset, long length) throws IOException {
        if (device == null) {
            throw new IllegalArgumentException("slice: device is null");
        }
        Bounds.checkRange(device, "slice", offset, length, device.size());
        if (offset % SECTOR != 0) {
            throw new IllegalArgumentException("slice of '" + device.name() + "' at offset " + offset
                    + ": the offset must be a multiple of " + SECTOR + " bytes (sector atomicity)");
        }
        return new SliceView(device, offset, length);
    }
}

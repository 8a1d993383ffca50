package dev.volumes.nbd;

import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.UnsupportedDeviceOperationException;

/** Maps Device failures to NBD error values (docs/nbd.md, "Errors"). */
final class Errors {

    private Errors() {}

    /** The NBD error for a failure thrown by a Device operation. */
    static int errno(Throwable failure) {
        return switch (failure) {
            case NoSpaceException e -> Wire.ENOSPC;
            case ReadOnlyDeviceException e -> Wire.EPERM;
            case OutOfRangeException e -> Wire.EINVAL;
            case DeviceClosedException e -> Wire.ESHUTDOWN;
            case UnsupportedDeviceOperationException e -> Wire.ENOTSUP;
            case IllegalArgumentException e -> Wire.EINVAL;
            default -> Wire.EIO;
        };
    }

    /** The symbolic name of an NBD error value, for counters and messages. */
    static String name(int errno) {
        return switch (errno) {
            case Wire.EPERM -> "EPERM";
            case Wire.EIO -> "EIO";
            case Wire.ENOMEM -> "ENOMEM";
            case Wire.EINVAL -> "EINVAL";
            case Wire.ENOSPC -> "ENOSPC";
            case Wire.EOVERFLOW -> "EOVERFLOW";
            case Wire.ENOTSUP -> "ENOTSUP";
            case Wire.ESHUTDOWN -> "ESHUTDOWN";
            default -> "E" + errno;
        };
    }
}

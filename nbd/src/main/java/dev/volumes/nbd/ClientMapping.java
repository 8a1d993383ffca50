package dev.volumes.nbd;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.Extent;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.OutOfRangeException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.device.UnsupportedDeviceOperationException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * How the client turns NBD answers into Device values (docs/nbd.md, "Client"): transmission flags
 * into {@link Capabilities}, {@code base:allocation} status into {@link Extent.Type}, a server
 * errno into the Device exception. Stateless.
 */
final class ClientMapping {

    private ClientMapping() {}

    /** Capabilities advertised by the transmission flags (and whether base:allocation was negotiated). */
    static Capabilities capabilities(int flags, boolean extents) {
        List<Capability> c = new ArrayList<>();
        if ((flags & Wire.TFLAG_READ_ONLY) != 0) {
            c.add(Capability.READ_ONLY);
        }
        if ((flags & Wire.TFLAG_SEND_FUA) != 0) {
            c.add(Capability.FUA);
        }
        if ((flags & Wire.TFLAG_SEND_TRIM) != 0) {
            c.add(Capability.DISCARD);
        }
        if ((flags & Wire.TFLAG_SEND_WRITE_ZEROES) != 0) {
            c.add(Capability.WRITE_ZEROES);
            if ((flags & Wire.TFLAG_SEND_TRIM) != 0) {
                c.add(Capability.WRITE_ZEROES_UNMAP);
            }
        }
        if ((flags & Wire.TFLAG_SEND_CACHE) != 0) {
            c.add(Capability.PREFETCH);
        }
        if (extents) {
            c.add(Capability.EXTENTS);
        }
        return Capabilities.of(c.toArray(new Capability[0]));
    }

    /** {@code HOLE|ZERO} → HOLE, {@code ZERO} → ZERO, anything else (including HOLE alone) → DATA. */
    static Extent.Type extentType(long status) {
        boolean hole = (status & Wire.STATE_HOLE) != 0;
        boolean zero = (status & Wire.STATE_ZERO) != 0;
        return zero ? (hole ? Extent.Type.HOLE : Extent.Type.ZERO) : Extent.Type.DATA;
    }

    /**
     * The exception for a failed reply: ENOSPC → {@link NoSpaceException}, EPERM →
     * {@link ReadOnlyDeviceException}, EINVAL/EOVERFLOW → {@link OutOfRangeException}, ESHUTDOWN →
     * {@link DeviceClosedException}, ENOTSUP → {@link UnsupportedDeviceOperationException}, else a
     * plain {@link IOException}; the message names server, export, operation, offset, length.
     */
    static IOException exception(String device, String description, String what, long offset, long length,
            ClientWire.Reply reply, long size) {
        String text = description + " failed: " + Errors.name(reply.errno())
                + (reply.message() == null || reply.message().isEmpty() ? "" : " (" + reply.message() + ")");
        return switch (reply.errno()) {
            case Wire.ENOSPC -> new NoSpaceException(device, text, null);
            case Wire.EPERM -> new ReadOnlyDeviceException(device, text);
            case Wire.EINVAL, Wire.EOVERFLOW -> new OutOfRangeException(device, what + " (server said "
                    + Errors.name(reply.errno()) + ")", offset, length, size);
            case Wire.ESHUTDOWN -> new DeviceClosedException(device, text);
            case Wire.ENOTSUP -> new UnsupportedDeviceOperationException(device, what, text);
            default -> new IOException(text);
        };
    }
}

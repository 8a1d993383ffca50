package dev.volumes.nbd;

import dev.volumes.device.BlockSizes;
import dev.volumes.device.Device;
import java.io.IOException;

/**
 * Which transmission requests a connection may run, decided from what was negotiated: the
 * export's transmission flags, reply style, metadata context and block sizes. A request that
 * breaks a rule gets the spec's errno (EINVAL for unknown commands, flags, misalignment or a range
 * beyond the export, EPERM for a modification of a read-only export, EOVERFLOW for a too-long
 * structured READ, ENOSPC for a WRITE or WRITE_ZEROES past the end) and a message saying what was
 * wrong. Stateless after construction; used by the connection's reader.
 */
final class RequestRules {

    /** Why a request is refused: the errno of its error reply and a message for the client. */
    record Rejection(int errno, String message) {}

    private final int flags;
    private final boolean extended;
    private final boolean structured;
    private final boolean baseAllocation;
    private final BlockSizes sizes;
    private final Device device;
    private final String exportName;

    RequestRules(Connection.Negotiated negotiated, BlockSizes sizes) {
        this.flags = negotiated.transmissionFlags();
        this.extended = negotiated.style() == ReplyEncoder.Style.EXTENDED;
        this.structured = negotiated.style() != ReplyEncoder.Style.SIMPLE;
        this.baseAllocation = negotiated.baseAllocation();
        this.sizes = sizes;
        this.device = negotiated.export().device();
        this.exportName = negotiated.export().name();
    }

    /**
     * Null if {@code r} may run, else why not: the errno and message of its error reply.
     *
     * @throws IOException if the Device's size cannot be read (the caller refuses the request)
     */
    Rejection check(RequestDecoder.Request r) throws IOException {
        int type = r.type();
        int f = r.flags();
        int allowed = (flags & Wire.TFLAG_SEND_FUA) != 0 ? Wire.CMD_FLAG_FUA : 0;
        boolean ranged = true;
        boolean writes = false;
        switch (type) {
            case Wire.CMD_READ -> {
                if ((flags & Wire.TFLAG_SEND_DF) != 0) {
                    allowed |= Wire.CMD_FLAG_DF;
                }
            }
            case Wire.CMD_WRITE -> {
                writes = true;
                if (extended) {
                    allowed |= Wire.CMD_FLAG_PAYLOAD_LEN; // meaningless for WRITE: its length is the payload
                }
            }
            case Wire.CMD_FLUSH -> ranged = false;
            case Wire.CMD_TRIM -> {
                writes = true;
                if ((flags & Wire.TFLAG_READ_ONLY) == 0 && (flags & Wire.TFLAG_SEND_TRIM) == 0) {
                    return new Rejection(Wire.EINVAL, "TRIM was not advertised for this export");
                }
            }
            case Wire.CMD_CACHE -> { }
            case Wire.CMD_WRITE_ZEROES -> {
                writes = true;
                allowed |= Wire.CMD_FLAG_NO_HOLE;
                if ((flags & Wire.TFLAG_SEND_FAST_ZERO) != 0) {
                    allowed |= Wire.CMD_FLAG_FAST_ZERO;
                }
            }
            case Wire.CMD_BLOCK_STATUS -> {
                allowed |= Wire.CMD_FLAG_REQ_ONE;
                if (!baseAllocation) {
                    return new Rejection(Wire.EINVAL, "BLOCK_STATUS needs a metadata context selected with NBD_OPT_SET_META_CONTEXT");
                }
            }
            default -> {
                return new Rejection(Wire.EINVAL, "unknown command " + type);
            }
        }
        if ((f & ~allowed) != 0) {
            return new Rejection(Wire.EINVAL, String.format("flags 0x%x are not valid for command %d", f & ~allowed, type));
        }
        if (writes && (flags & Wire.TFLAG_READ_ONLY) != 0) {
            return new Rejection(Wire.EPERM, "export '" + exportName + "' is read-only");
        }
        if (!ranged) {
            return null;
        }
        long offset = r.offset();
        long length = r.length();
        if ((type == Wire.CMD_READ || type == Wire.CMD_WRITE) && Long.compareUnsigned(length, sizes.maximum()) > 0) {
            return new Rejection(type == Wire.CMD_READ && structured
                    ? Wire.EOVERFLOW : Wire.EINVAL,
                    "length " + Long.toUnsignedString(length) + " exceeds the maximum payload of " + sizes.maximum());
        }
        int min = sizes.minimum();
        if (min > 1 && (offset % min != 0 || length % min != 0) && type != Wire.CMD_BLOCK_STATUS) {
            return new Rejection(Wire.EINVAL, "offset " + offset + " and length " + length
                    + " must be multiples of the minimum block size " + min);
        }
        long size = device.size();
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            int errno = (type == Wire.CMD_WRITE || type == Wire.CMD_WRITE_ZEROES) ? Wire.ENOSPC : Wire.EINVAL;
            return new Rejection(errno, "range at " + Long.toUnsignedString(offset) + " of "
                    + Long.toUnsignedString(length) + " bytes is beyond the export size " + size);
        }
        if (type == Wire.CMD_BLOCK_STATUS && length == 0) {
            return new Rejection(Wire.EINVAL, "BLOCK_STATUS of zero length");
        }
        return null;
    }
}

package dev.volumes.nbd;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Capability;
import dev.volumes.device.Device;

/**
 * One named export: the device, its description and its counters.
 *
 * @param name the export name clients select
 * @param device the device served; owned by the caller, never closed by the server
 * @param description shown by {@code NBD_OPT_LIST} and {@code NBD_INFO_DESCRIPTION}
 * @param counters statistics for metrics
 */
record Export(String name, Device device, String description, Counters counters) {

    Export {
        if (name == null || device == null) {
            throw new IllegalArgumentException("export name and device are required");
        }
        description = description == null ? "" : description;
    }

    /**
     * The transmission flags advertised for this export, derived from the device capabilities.
     * FLUSH, FUA and CACHE are always offered (every Device implements sync, FUA and prefetch,
     * possibly as no-ops); CAN_MULTI_CONN is always offered because every connection shares the
     * one Device, whose sync() covers writes from all callers; DF only with structured replies.
     */
    static int transmissionFlags(Device device, boolean structured) {
        Capabilities caps = device.capabilities();
        int flags = Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_SEND_FLUSH | Wire.TFLAG_SEND_FUA
                | Wire.TFLAG_CAN_MULTI_CONN | Wire.TFLAG_SEND_CACHE;
        if (structured) {
            flags |= Wire.TFLAG_SEND_DF;
        }
        if (caps.readOnly()) {
            flags |= Wire.TFLAG_READ_ONLY;
        } else {
            flags |= Wire.TFLAG_SEND_WRITE_ZEROES | Wire.TFLAG_SEND_FAST_ZERO;
            if (caps.has(Capability.DISCARD)) {
                flags |= Wire.TFLAG_SEND_TRIM;
            }
        }
        return flags;
    }
}

package dev.volumes.nbd;

import dev.volumes.device.BlockSizes;
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
 * @param shared whether every connection selecting this name sees this one Device (static
 *     exports); false for an export an {@link ExportResolver} made for one connection
 */
record Export(String name, Device device, String description, Counters counters, boolean shared) {

    Export {
        if (name == null || device == null) {
            throw new IllegalArgumentException("export name and device are required");
        }
        description = description == null ? "" : description;
    }

    /**
     * The block sizes advertised and enforced: the device's, with the maximum payload capped at
     * the per-connection in-flight budget (a request larger than the budget could never reserve
     * its memory) and kept a multiple of the minimum.
     */
    static BlockSizes blockSizes(Device device, int budget) {
        BlockSizes d = device.blockSizes();
        if (d.maximum() <= budget) {
            return d;
        }
        int max = budget - budget % d.minimum();
        return new BlockSizes(d.minimum(), Math.min(d.preferred(), Integer.highestOneBit(max)), max);
    }

    /**
     * The transmission flags advertised for this export, derived from the device capabilities.
     * FLUSH, FUA and CACHE are always offered (every Device implements sync, FUA and prefetch,
     * possibly as no-ops); CAN_MULTI_CONN is offered for shared (static) exports because every
     * connection shares the one Device, whose sync() covers writes from all callers, and not for
     * resolved ones (another connection asking the same name may get a different Device, so a
     * flush on one connection would not cover writes made on the other); DF only with structured
     * replies.
     */
    int transmissionFlags(boolean structured) {
        Capabilities caps = device.capabilities();
        int flags = Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_SEND_FLUSH | Wire.TFLAG_SEND_FUA | Wire.TFLAG_SEND_CACHE;
        if (shared) {
            flags |= Wire.TFLAG_CAN_MULTI_CONN;
        }
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

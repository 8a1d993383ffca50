package dev.volumes.nbd;

import dev.volumes.device.Device;

/**
 * An export made for one connection by an {@link ExportResolver}.
 *
 * @param name the export name reported to the client ({@code NBD_INFO_NAME})
 * @param description human-readable text ({@code NBD_INFO_DESCRIPTION}); null means none
 * @param device the device served to that connection only; the server never closes it
 * @param onClose runs exactly once when the connection stops using the export, for any reason
 *     (disconnect, error, server shutdown, or right after answering {@code NBD_OPT_INFO}); it runs
 *     after every request on the device has finished. Null means nothing to do. An exception it
 *     throws is logged and ignored.
 */
public record ResolvedExport(String name, String description, Device device, Runnable onClose) {

    /** @throws IllegalArgumentException if the name or device is null, or the name is longer than 4096 bytes or holds NUL */
    public ResolvedExport {
        if (name == null || device == null) {
            throw new IllegalArgumentException("a resolved export needs a name and a device: " + name + ", " + device);
        }
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > Wire.MAX_STRING || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("export name must be at most " + Wire.MAX_STRING
                    + " bytes of UTF-8 without NUL: " + name);
        }
        description = description == null ? "" : description;
        onClose = onClose == null ? () -> { } : onClose;
    }
}

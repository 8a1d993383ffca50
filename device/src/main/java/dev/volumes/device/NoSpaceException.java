package dev.volumes.device;

/**
 * The backing storage cannot hold the request (ENOSPC). The operation that threw it changed
 * nothing.
 */
public class NoSpaceException extends DeviceException {

    private final long needed;
    private final long available;

    /**
     * @param deviceName the device
     * @param operation what was asked, e.g. "write of 65536 bytes at offset 0"
     * @param needed units needed (bytes or blocks, as {@code unit} says)
     * @param available units available
     * @param unit "bytes", "blocks" ...
     */
    public NoSpaceException(String deviceName, String operation, long needed, long available, String unit) {
        super(deviceName, "no space on '" + deviceName + "' for " + operation + ": needs " + needed + " "
                + unit + ", " + available + " available");
        this.needed = needed;
        this.available = available;
    }

    /** A no-space failure described by a free-form message (must still name the device). */
    public NoSpaceException(String deviceName, String message, Throwable cause) {
        super(deviceName, message, cause);
        this.needed = -1;
        this.available = -1;
    }

    /** Units the request needed, or -1 if unknown. */
    public long needed() {
        return needed;
    }

    /** Units that were available, or -1 if unknown. */
    public long available() {
        return available;
    }
}

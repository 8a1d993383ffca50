package dev.volumes.device;

import java.io.IOException;

/**
 * Base of the device failures that callers (the NBD server above all) map to specific error
 * codes. Every subclass names the device it happened on. Plain {@link IOException}s that are not
 * {@code DeviceException}s mean an I/O error (EIO).
 */
public abstract class DeviceException extends IOException {

    private final String deviceName;

    protected DeviceException(String deviceName, String message) {
        super(message);
        this.deviceName = deviceName;
    }

    protected DeviceException(String deviceName, String message, Throwable cause) {
        super(message, cause);
        this.deviceName = deviceName;
    }

    /** The name of the device the failure happened on. */
    public String deviceName() {
        return deviceName;
    }
}

package dev.volumes.device;

/**
 * The device is held by another writer (another process, or another open in this process), so
 * it cannot be opened for writing. The message says who holds it where that is known.
 */
public class DeviceInUseException extends DeviceException {

    public DeviceInUseException(String deviceName, String message) {
        super(deviceName, message);
    }

    public DeviceInUseException(String deviceName, String message, Throwable cause) {
        super(deviceName, message, cause);
    }
}

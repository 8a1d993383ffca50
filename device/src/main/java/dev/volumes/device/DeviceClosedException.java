package dev.volumes.device;

/** The device was closed before or during the operation (ESHUTDOWN). */
public class DeviceClosedException extends DeviceException {

    public DeviceClosedException(String deviceName, String operation) {
        super(deviceName, operation + " refused: '" + deviceName + "' is closed");
    }

    public DeviceClosedException(String deviceName, String operation, Throwable cause) {
        super(deviceName, operation + " refused: '" + deviceName + "' is closed", cause);
    }
}

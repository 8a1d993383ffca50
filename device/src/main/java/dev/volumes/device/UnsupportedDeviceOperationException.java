package dev.volumes.device;

/** The device does not implement the operation (ENOTSUP). Nothing changed. */
public class UnsupportedDeviceOperationException extends DeviceException {

    public UnsupportedDeviceOperationException(String deviceName, String operation) {
        super(deviceName, operation + " is not supported by '" + deviceName + "'");
    }

    public UnsupportedDeviceOperationException(String deviceName, String operation, String reason) {
        super(deviceName, operation + " is not supported by '" + deviceName + "': " + reason);
    }
}

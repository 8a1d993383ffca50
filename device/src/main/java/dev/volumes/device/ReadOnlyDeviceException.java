package dev.volumes.device;

/** A modifying operation was attempted on a read-only device (EPERM). Nothing changed. */
public class ReadOnlyDeviceException extends DeviceException {

    public ReadOnlyDeviceException(String deviceName, String operation) {
        super(deviceName, operation + " refused: '" + deviceName + "' is read-only");
    }
}

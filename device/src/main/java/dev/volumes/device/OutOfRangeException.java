package dev.volumes.device;

/** A request extends past the end of the device (EINVAL / EOVERFLOW). Nothing changed. */
public class OutOfRangeException extends DeviceException {

    private final long offset;
    private final long length;
    private final long size;

    public OutOfRangeException(String deviceName, String operation, long offset, long length, long size) {
        super(deviceName, operation + " of " + length + " bytes at offset " + offset + " ends at "
                + endText(offset, length) + ", past the end of '" + deviceName + "' (size " + size + " bytes)");
        this.offset = offset;
        this.length = length;
        this.size = size;
    }

    private static String endText(long offset, long length) {
        long end = offset + length;
        return end < 0 ? "beyond 2^63" : Long.toString(end);
    }

    /** The requested offset. */
    public long offset() {
        return offset;
    }

    /** The requested length. */
    public long length() {
        return length;
    }

    /** The device size at the time of the request. */
    public long size() {
        return size;
    }
}

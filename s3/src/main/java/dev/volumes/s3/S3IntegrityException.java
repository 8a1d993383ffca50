package dev.volumes.s3;

/** The bytes received or stored do not match their checksum (BadDigest, or a GET whose CRC32C differs). */
public class S3IntegrityException extends S3Exception {

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3IntegrityException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

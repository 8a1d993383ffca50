package dev.volumes.s3;

/** The object does not exist (404 NoSuchKey, or 404 to a HEAD). */
public class S3NoSuchKeyException extends S3Exception {

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3NoSuchKeyException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

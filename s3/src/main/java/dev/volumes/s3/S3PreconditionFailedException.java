package dev.volumes.s3;

/** A conditional request lost: 412 PreconditionFailed or 409 ConditionalRequestConflict (re-read and retry). */
public class S3PreconditionFailedException extends S3Exception {

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3PreconditionFailedException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

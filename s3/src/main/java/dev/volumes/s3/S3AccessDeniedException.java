package dev.volumes.s3;

/** The server refused the credentials or the signature (403: AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed ...). */
public class S3AccessDeniedException extends S3Exception {

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3AccessDeniedException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

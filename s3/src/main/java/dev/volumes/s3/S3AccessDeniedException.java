package dev.volumes.s3;

/** The server refused the credentials or the signature (403: AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed ...). */
public class S3AccessDeniedException extends S3Exception {

    public S3AccessDeniedException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

package dev.volumes.s3;

/** The bucket does not exist (404 NoSuchBucket). */
public class S3NoSuchBucketException extends S3Exception {

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3NoSuchBucketException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

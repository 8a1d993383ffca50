package dev.volumes.s3;

/** The bucket does not exist (404 NoSuchBucket). */
public class S3NoSuchBucketException extends S3Exception {

    public S3NoSuchBucketException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

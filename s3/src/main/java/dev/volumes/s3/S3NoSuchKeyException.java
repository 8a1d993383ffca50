package dev.volumes.s3;

/** The object does not exist (404 NoSuchKey, or 404 to a HEAD). */
public class S3NoSuchKeyException extends S3Exception {

    public S3NoSuchKeyException(String message, int status, String code, String requestId) {
        super(message, status, code, requestId);
    }
}

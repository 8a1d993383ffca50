package dev.volumes.s3;

import java.io.IOException;

/**
 * An S3 request failed with an error answer (or, for {@link #status()} 0, could not be answered).
 * The message names the operation, bucket and key, the HTTP status, the S3 error code and the
 * request id; it never contains credentials. Subclasses mark the failures callers branch on.
 */
public class S3Exception extends IOException {

    private final int status;
    private final String code;
    private final String requestId;

    /** An exception with the given message, HTTP status (0 = none), S3 error code and request id. */
    public S3Exception(String message, int status, String code, String requestId) {
        super(message);
        this.status = status;
        this.code = code == null ? "" : code;
        this.requestId = requestId == null ? "" : requestId;
    }

    /** The HTTP status, or 0 when there was no answer. */
    public int status() {
        return status;
    }

    /** The S3 error code ({@code NoSuchKey}, {@code SlowDown} ...), or "" when the answer had none. */
    public String code() {
        return code;
    }

    /** The server's request id, or "". */
    public String requestId() {
        return requestId;
    }
}

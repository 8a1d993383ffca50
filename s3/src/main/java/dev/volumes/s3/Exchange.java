package dev.volumes.s3;

import java.io.IOException;

/**
 * One stage of the S3 client's request chain (retry → signing → transport, assembled in
 * {@link S3Client#create}). A stage may change the request and call the next stage zero or more
 * times. An error answer from the server is returned, not thrown; an {@link IOException} means
 * no answer (connection refused or reset, timeout) or a stage's own failure.
 */
interface Exchange {

    S3Response send(S3Request request) throws IOException;
}

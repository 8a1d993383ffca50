package dev.volumes.s3;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The last stage: sends the request with {@link java.net.http.HttpClient} over HTTP/1.1, with a
 * per-request timeout, and reads the whole answer. The JDK sets Host and Content-Length itself
 * (the signing stage signs the Host value {@link S3Request#hostHeader()} predicts). Thread-safe.
 */
final class JdkTransport implements Exchange {

    private final HttpClient http;
    private final Duration requestTimeout;

    JdkTransport(HttpClient http, Duration requestTimeout) {
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("request timeout must be positive: " + requestTimeout);
        }
        this.http = http;
        this.requestTimeout = requestTimeout;
    }

    @Override
    public S3Response send(S3Request request) throws IOException {
        HttpRequest.BodyPublisher body = request.body().length == 0 && !request.method().equals("PUT")
                && !request.method().equals("POST")
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(request.body());
        HttpRequest.Builder b = HttpRequest.newBuilder(request.uri()).timeout(requestTimeout)
                .method(request.method(), body);
        for (SigV4Signer.Header h : request.headers()) {
            b.header(h.name(), h.value());
        }
        try {
            HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new S3Response(r.statusCode(), r.headers().map(), r.body() == null ? new byte[0] : r.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            InterruptedIOException ie = new InterruptedIOException("interrupted during " + request.what());
            ie.initCause(e);
            throw ie;
        }
    }
}

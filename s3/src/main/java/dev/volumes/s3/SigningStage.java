package dev.volumes.s3;

import java.io.IOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Signs each attempt afresh (so a retried request carries a current date): adds
 * {@code x-amz-content-sha256} (the body's SHA-256, or {@code UNSIGNED-PAYLOAD} when so
 * configured), {@code X-Amz-Date}, the session token and {@code Authorization}. Signs Host as the
 * JDK will send it plus every header of the request. Thread-safe.
 */
final class SigningStage implements Exchange {

    private final SigV4Signer signer;
    private final Supplier<AwsCredentials> credentials;
    private final Clock clock;
    private final boolean unsignedPayload;
    private final Exchange next;

    SigningStage(SigV4Signer signer, Supplier<AwsCredentials> credentials, Clock clock, boolean unsignedPayload,
            Exchange next) {
        this.signer = signer;
        this.credentials = credentials;
        this.clock = clock;
        this.unsignedPayload = unsignedPayload;
        this.next = next;
    }

    @Override
    public S3Response send(S3Request request) throws IOException {
        String payloadHash = unsignedPayload ? SigV4Signer.UNSIGNED_PAYLOAD : SigV4Signer.sha256Hex(request.body());
        List<SigV4Signer.Header> toSign = new ArrayList<>(request.headers());
        toSign.add(new SigV4Signer.Header("x-amz-content-sha256", payloadHash));
        List<SigV4Signer.Header> withHost = new ArrayList<>(toSign);
        withHost.add(new SigV4Signer.Header("host", request.hostHeader()));
        SigV4Signer.Signed signed = signer.signHeaders(
                new SigV4Signer.Request(request.method(), request.path(), request.query(), withHost), payloadHash,
                clock.instant(), credentials.get(), true);
        List<SigV4Signer.Header> extra = new ArrayList<>();
        extra.add(new SigV4Signer.Header("x-amz-content-sha256", payloadHash));
        extra.addAll(signed.addedHeaders());
        return next.send(request.withHeaders(extra));
    }
}

package dev.volumes.s3;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * Immutable settings of an {@link S3Client}: endpoint, region, credentials, addressing, timeouts,
 * retries and integrity. Build one with {@link #builder()} or from the AWS environment with
 * {@link AwsEnvironment#resolve}. {@link #toString()} redacts the credentials.
 */
public final class S3Config {

    /** How the bucket appears in the URL. */
    public enum Addressing {
        /** Path style for IP-address and {@code localhost} endpoints and for bucket names that are not DNS-safe, else virtual-hosted. */
        AUTO,
        /** {@code https://endpoint/bucket/key}. */
        PATH,
        /** {@code https://bucket.endpoint/key}. */
        VIRTUAL_HOSTED
    }

    /** The integrity header sent with each PUT. */
    public enum Integrity {
        /** {@code Content-MD5} (accepted by every S3-compatible server). */
        CONTENT_MD5,
        /** {@code x-amz-checksum-crc32c} (newer servers). */
        CRC32C
    }

    private final URI endpoint;
    private final String region;
    private final AwsCredentials credentials;
    private final Addressing addressing;
    private final Duration connectTimeout;
    private final Duration requestTimeout;
    private final int maxAttempts;
    private final Duration baseBackoff;
    private final Duration maxBackoff;
    private final Integrity integrity;
    private final boolean unsignedPayload;
    private final Clock clock;

    private S3Config(Builder b) {
        this.endpoint = Objects.requireNonNull(b.endpoint, "endpoint");
        this.region = Objects.requireNonNull(b.region, "region");
        this.credentials = Objects.requireNonNull(b.credentials, "credentials");
        if (!"http".equals(endpoint.getScheme()) && !"https".equals(endpoint.getScheme())) {
            throw new IllegalArgumentException("endpoint must be http:// or https://: " + endpoint);
        }
        if (endpoint.getHost() == null) {
            throw new IllegalArgumentException("endpoint has no host: " + endpoint);
        }
        if (b.maxAttempts < 1 || b.maxAttempts > 100) {
            throw new IllegalArgumentException("max attempts must be 1..100: " + b.maxAttempts);
        }
        for (Duration d : new Duration[] {b.connectTimeout, b.requestTimeout}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("timeouts must be positive: " + d);
            }
        }
        if (b.baseBackoff.isNegative() || b.maxBackoff.compareTo(b.baseBackoff) < 0) {
            throw new IllegalArgumentException("need 0 <= base backoff <= max backoff: " + b.baseBackoff + ", "
                    + b.maxBackoff);
        }
        this.addressing = b.addressing;
        this.connectTimeout = b.connectTimeout;
        this.requestTimeout = b.requestTimeout;
        this.maxAttempts = b.maxAttempts;
        this.baseBackoff = b.baseBackoff;
        this.maxBackoff = b.maxBackoff;
        this.integrity = b.integrity;
        this.unsignedPayload = b.unsignedPayload;
        this.clock = b.clock;
    }

    /** A builder with defaults: AUTO addressing, 10 s connect, 60 s per request, 6 attempts, 50 ms..5 s backoff, Content-MD5. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these settings. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.endpoint = endpoint;
        b.region = region;
        b.credentials = credentials;
        b.addressing = addressing;
        b.connectTimeout = connectTimeout;
        b.requestTimeout = requestTimeout;
        b.maxAttempts = maxAttempts;
        b.baseBackoff = baseBackoff;
        b.maxBackoff = maxBackoff;
        b.integrity = integrity;
        b.unsignedPayload = unsignedPayload;
        b.clock = clock;
        return b;
    }

    /** The service endpoint (scheme, host, optional port and base path). */
    public URI endpoint() {
        return endpoint;
    }

    /** The signing region. */
    public String region() {
        return region;
    }

    /** The credentials every request is signed with. */
    public AwsCredentials credentials() {
        return credentials;
    }

    /** How buckets are addressed; see {@link #pathStyle(String)}. */
    public Addressing addressing() {
        return addressing;
    }

    /** Time allowed to open a connection. */
    public Duration connectTimeout() {
        return connectTimeout;
    }

    /** Time allowed for one attempt of one request. */
    public Duration requestTimeout() {
        return requestTimeout;
    }

    /** Attempts per request, including the first. */
    public int maxAttempts() {
        return maxAttempts;
    }

    /** Backoff before the first retry is random in [0, this]. */
    public Duration baseBackoff() {
        return baseBackoff;
    }

    /** Upper bound of any single backoff. */
    public Duration maxBackoff() {
        return maxBackoff;
    }

    /** The integrity header sent with each PUT. */
    public Integrity integrity() {
        return integrity;
    }

    /** Whether bodies are sent as {@code UNSIGNED-PAYLOAD} instead of hashed. */
    public boolean unsignedPayload() {
        return unsignedPayload;
    }

    /** The clock that dates signatures. */
    public Clock clock() {
        return clock;
    }

    /** Whether requests for {@code bucket} use path-style URLs under these settings. */
    public boolean pathStyle(String bucket) {
        return switch (addressing) {
            case PATH -> true;
            case VIRTUAL_HOSTED -> false;
            case AUTO -> isIpOrLocalhost(endpoint.getHost()) || !bucket.matches("[a-z0-9][a-z0-9-]{1,61}[a-z0-9]");
        };
    }

    static boolean isIpOrLocalhost(String host) {
        String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        return h.equalsIgnoreCase("localhost") || h.endsWith(".localhost") || h.matches("[0-9.]+") || h.contains(":");
    }

    @Override
    public String toString() {
        return "S3Config[endpoint=" + endpoint + ", region=" + region + ", credentials=" + credentials
                + ", addressing=" + addressing + ", requestTimeout=" + requestTimeout + ", maxAttempts=" + maxAttempts
                + ", integrity=" + integrity + "]";
    }

    /** Mutable builder; {@link #build()} validates. Not thread-safe. */
    public static final class Builder {
        private URI endpoint;
        private String region = "us-east-1";
        private AwsCredentials credentials;
        private Addressing addressing = Addressing.AUTO;
        private Duration connectTimeout = Duration.ofSeconds(10);
        private Duration requestTimeout = Duration.ofSeconds(60);
        private int maxAttempts = 6;
        private Duration baseBackoff = Duration.ofMillis(50);
        private Duration maxBackoff = Duration.ofSeconds(5);
        private Integrity integrity = Integrity.CONTENT_MD5;
        private boolean unsignedPayload;
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        /** The service endpoint, e.g. {@code https://s3.eu-west-1.amazonaws.com} or {@code http://127.0.0.1:9000}. */
        public Builder endpoint(URI endpoint) {
            this.endpoint = endpoint;
            return this;
        }

        /** The signing region, e.g. {@code eu-west-1} (default {@code us-east-1}). */
        public Builder region(String region) {
            this.region = region;
            return this;
        }

        /** The credentials (required). */
        public Builder credentials(AwsCredentials credentials) {
            this.credentials = credentials;
            return this;
        }

        /** Path-style, virtual-hosted or automatic (default). */
        public Builder addressing(Addressing addressing) {
            this.addressing = Objects.requireNonNull(addressing);
            return this;
        }

        /** Time allowed to open a connection (default 10 s). */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** Time allowed for one attempt of one request, from sending to the last byte of the answer. */
        public Builder requestTimeout(Duration timeout) {
            this.requestTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** Attempts per request including the first (1 = no retries). */
        public Builder maxAttempts(int attempts) {
            this.maxAttempts = attempts;
            return this;
        }

        /** Backoff before retry n is random in [0, min(max, base * 2^(n-1))]. */
        public Builder backoff(Duration base, Duration max) {
            this.baseBackoff = Objects.requireNonNull(base);
            this.maxBackoff = Objects.requireNonNull(max);
            return this;
        }

        /** The PUT integrity header (default Content-MD5). */
        public Builder integrity(Integrity integrity) {
            this.integrity = Objects.requireNonNull(integrity);
            return this;
        }

        /** Send {@code UNSIGNED-PAYLOAD} instead of hashing bodies (saves CPU; use only over TLS). */
        public Builder unsignedPayload(boolean unsigned) {
            this.unsignedPayload = unsigned;
            return this;
        }

        /** The clock that dates signatures (tests inject a fixed one). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock);
            return this;
        }

        /**
         * Validates and builds.
         *
         * @throws IllegalArgumentException for a bad endpoint, timeout, backoff or attempt count
         * @throws NullPointerException if endpoint or credentials are missing
         */
        public S3Config build() {
            return new S3Config(this);
        }
    }
}

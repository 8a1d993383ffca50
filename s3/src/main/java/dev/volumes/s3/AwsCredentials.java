package dev.volumes.s3;

import java.util.Optional;

/**
 * An AWS access key pair and optional session token. {@link #toString()} never shows the secret
 * or the token, so a credentials value may appear in logs and exception messages safely.
 *
 * @param accessKeyId the access key id, non-empty
 * @param secretAccessKey the secret key, non-empty
 * @param sessionToken the STS session token, or null for long-term keys
 */
public record AwsCredentials(String accessKeyId, String secretAccessKey, String sessionToken) {

    public AwsCredentials {
        if (accessKeyId == null || accessKeyId.isBlank()) {
            throw new IllegalArgumentException("access key id is empty");
        }
        if (secretAccessKey == null || secretAccessKey.isEmpty()) {
            throw new IllegalArgumentException("secret access key is empty for access key " + accessKeyId);
        }
        if (sessionToken != null && sessionToken.isEmpty()) {
            sessionToken = null;
        }
    }

    /** Long-term credentials without a session token. */
    public static AwsCredentials of(String accessKeyId, String secretAccessKey) {
        return new AwsCredentials(accessKeyId, secretAccessKey, null);
    }

    /** The session token, if any. */
    public Optional<String> token() {
        return Optional.ofNullable(sessionToken);
    }

    @Override
    public String toString() {
        return "AwsCredentials[accessKeyId=" + accessKeyId + ", secretAccessKey=<redacted>"
                + (sessionToken == null ? "" : ", sessionToken=<redacted>") + "]";
    }
}

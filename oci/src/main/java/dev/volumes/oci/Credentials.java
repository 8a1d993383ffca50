package dev.volumes.oci;

/**
 * A user name and secret (password or personal access token) for one registry. {@link #toString()}
 * never shows the secret.
 *
 * @param username the user name, not empty
 * @param secret the password or token, not empty
 */
public record Credentials(String username, String secret) {

    public Credentials {
        if (username == null || username.isEmpty()) {
            throw new IllegalArgumentException("credentials need a user name");
        }
        if (secret == null || secret.isEmpty()) {
            throw new IllegalArgumentException("credentials for '" + username + "' need a secret");
        }
    }

    @Override
    public String toString() {
        return "Credentials[username=" + username + ", secret=<redacted>]";
    }
}

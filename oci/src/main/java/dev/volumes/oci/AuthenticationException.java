package dev.volumes.oci;

import java.util.List;

/**
 * The registry (or its token server) refused the request's credentials, or demanded credentials
 * that were not configured (HTTP 401/403). The message names the registry, the user and the scope,
 * never a password or token.
 */
public final class AuthenticationException extends RegistryException {

    /** A refusal of {@code method url} with {@code status}, explained by {@code detail}. */
    public AuthenticationException(String method, String url, int status, String detail) {
        super(method, url, status, List.of(), detail);
    }
}

package dev.volumes.oci;

import java.io.IOException;
import java.util.List;

/**
 * A registry answered a request with an error status. Carries the status, the method and URL
 * (without query secrets; volumes never puts secrets in URLs) and the OCI error codes from the
 * body ({@code {"errors":[{"code":..,"message":..}]}}) when there were any.
 */
public class RegistryException extends IOException {

    private final int status;
    private final List<String> codes;

    /** An error for {@code method url} answered with {@code status}; {@code detail} is appended. */
    public RegistryException(String method, String url, int status, List<String> codes, String detail) {
        super(method + " " + url + " failed: HTTP " + status + (codes.isEmpty() ? "" : " " + codes)
                + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        this.status = status;
        this.codes = List.copyOf(codes);
    }

    /** The HTTP status the registry answered. */
    public int status() {
        return status;
    }

    /** The OCI error codes from the response body (e.g. {@code MANIFEST_UNKNOWN}); may be empty. */
    public List<String> codes() {
        return codes;
    }

    /** Whether the registry said the thing asked for does not exist (HTTP 404). */
    public boolean isNotFound() {
        return status == 404;
    }
}

package dev.volumes.s3;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * One S3 HTTP request before signing. {@code path} is decoded (bucket and key as given); it is
 * encoded exactly once, by {@link #rawPath()}, for both the wire and the signature.
 *
 * @param method HTTP method
 * @param base scheme and authority, e.g. {@code http://127.0.0.1:9000}
 * @param path decoded path starting with '/'
 * @param query decoded query parameters, in wire order
 * @param headers headers to send (never Host, Content-Length or other JDK-restricted headers)
 * @param body the body, empty for none
 * @param what a short description for messages ("PUT bucket/key"), free of secrets
 */
record S3Request(String method, URI base, String path, List<SigV4Signer.Param> query,
        List<SigV4Signer.Header> headers, byte[] body, String what) {

    S3Request {
        query = List.copyOf(query);
        headers = List.copyOf(headers);
        body = body == null ? new byte[0] : body;
        for (SigV4Signer.Header h : headers) {
            String n = h.name().toLowerCase(java.util.Locale.ROOT);
            if (n.equals("host") || n.equals("content-length") || n.equals("connection") || n.equals("expect")
                    || n.equals("upgrade")) {
                throw new IllegalArgumentException("the JDK sets header " + h.name() + " itself");
            }
        }
    }

    /** The path as sent: each byte outside A-Z a-z 0-9 - _ . ~ / percent-encoded once. */
    String rawPath() {
        return SigV4Signer.uriEncode(path, true);
    }

    /** The full URI as sent. */
    URI uri() {
        String q = SigV4Signer.queryString(query);
        return URI.create(base.getScheme() + "://" + base.getRawAuthority() + rawPath() + (q.isEmpty() ? "" : "?" + q));
    }

    /** The Host header value the JDK client will send for {@link #uri()} (default ports omitted). */
    String hostHeader() {
        int port = base.getPort();
        boolean defaultPort = port == -1 || ("https".equals(base.getScheme()) ? port == 443 : port == 80);
        return defaultPort ? base.getHost() : base.getHost() + ":" + port;
    }

    /** This request with more headers. */
    S3Request withHeaders(List<SigV4Signer.Header> more) {
        List<SigV4Signer.Header> all = new ArrayList<>(headers);
        all.addAll(more);
        return new S3Request(method, base, path, query, all, body, what);
    }
}

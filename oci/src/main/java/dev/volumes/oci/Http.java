package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * The request pipeline of a {@link RegistryClient}, as a visible chain of stages:
 * <b>retry</b> (bounded attempts with exponential backoff, for transport errors and 429/5xx on
 * replayable requests) → <b>auth</b> (attach a cached Bearer token or Basic credentials; on a 401,
 * answer the {@code WWW-Authenticate} challenge once) → <b>redirects</b> (followed by hand so that
 * credentials are never sent to another host) → <b>transport</b> (java.net.http with timeouts).
 *
 * <p>Thread safety: everything may be called concurrently. Tokens live in a concurrent map keyed by
 * realm, service and scope, each with its expiry; concurrent misses on one key share one token
 * request (a future per key). No lock is held across network I/O.
 *
 * <p>Secrets: Authorization headers and token bodies never appear in exception messages or logs;
 * URLs in messages are shown without their query strings.
 */
final class Http {

    /** One request. {@code body} null means none; {@code scope} is the token scope it needs. */
    record Req(String method, URI uri, String scope, Map<String, String> headers, byte[] body, int off, int len,
            boolean replayable) {
        Req {
            headers = Map.copyOf(headers);
        }

        static Req of(String method, URI uri, String scope, Map<String, String> headers, boolean replayable) {
            return new Req(method, uri, scope, headers, null, 0, 0, replayable);
        }
    }

    private record Token(String value, Instant expires) {}

    private final HttpClient client;
    private final Optional<Credentials> credentials;
    private final int maxAttempts;
    private final Duration requestTimeout;
    private final Duration backoff;
    private final Clock clock;
    private final ObjectMapper json = new ObjectMapper();
    private final ConcurrentHashMap<String, Token> tokens = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, CompletableFuture<Token>> tokenFetches = new ConcurrentHashMap<>();
    /** The last Bearer challenge seen (realm, service); lets new scopes fetch a token up front. */
    private volatile Challenge bearer;
    private volatile boolean basic;

    Http(HttpClient client, Optional<Credentials> credentials, int maxAttempts, Duration requestTimeout,
            Duration backoff, Clock clock) {
        this.client = client;
        this.credentials = credentials;
        this.maxAttempts = maxAttempts;
        this.requestTimeout = requestTimeout;
        this.backoff = backoff;
        this.clock = clock;
    }

    /** A URL for messages: no query string (upload state, signed redirects). */
    static String show(URI uri) {
        String s = uri.toString();
        int q = s.indexOf('?');
        return q < 0 ? s : s.substring(0, q) + "?…";
    }

    /**
     * Sends {@code req} through retry, auth and redirects; returns the final response (any status
     * except 401/403, which throw {@link AuthenticationException}). The caller closes the body.
     */
    HttpResponse<InputStream> send(Req req) throws IOException {
        List<IOException> earlier = new ArrayList<>();
        for (int attempt = 1; ; attempt++) {
            boolean last = !req.replayable() || attempt >= maxAttempts;
            try {
                HttpResponse<InputStream> resp = authenticated(req);
                int s = resp.statusCode();
                if (!last && (s == 429 || s == 500 || s == 502 || s == 503 || s == 504)) {
                    resp.body().close();
                    earlier.add(new IOException(req.method() + " " + show(req.uri()) + ": HTTP " + s + " (attempt " + attempt + ")"));
                    pause(attempt);
                    continue;
                }
                return resp;
            } catch (RegistryException e) {
                throw e;
            } catch (InterruptedIOException e) {
                throw e;
            } catch (IOException e) {
                if (last) {
                    IOException failure = new IOException(req.method() + " " + show(req.uri()) + " failed after "
                            + attempt + " attempt(s): " + e, e);
                    earlier.forEach(failure::addSuppressed);
                    throw failure;
                }
                earlier.add(e);
                pause(attempt);
            }
        }
    }

    private void pause(int attempt) throws InterruptedIOException {
        try {
            Thread.sleep(backoff.multipliedBy(1L << Math.min(attempt - 1, 6)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted during retry backoff");
        }
    }

    private HttpResponse<InputStream> authenticated(Req req) throws IOException {
        String sent = preemptive(req);
        HttpResponse<InputStream> resp = redirected(req, sent);
        if (resp.statusCode() == 401) {
            Optional<Challenge> challenge = Challenge.parse(resp.headers().firstValue("WWW-Authenticate").orElse(null));
            drain(resp);
            String auth;
            if (challenge.isPresent() && challenge.get().scheme().equals("bearer")) {
                bearer = challenge.get();
                String used = sent != null && sent.startsWith("Bearer ") ? sent.substring(7) : null;
                auth = "Bearer " + token(challenge.get(), req, true, used).value();
            } else if (challenge.isPresent() && challenge.get().scheme().equals("basic")) {
                if (credentials.isEmpty()) {
                    throw new AuthenticationException(req.method(), show(req.uri()), 401,
                            "the registry requires credentials (Basic) and none are configured");
                }
                basic = true;
                auth = basicHeader();
            } else {
                throw new AuthenticationException(req.method(), show(req.uri()), 401,
                        "unauthorized, and no Bearer or Basic challenge to answer");
            }
            resp = redirected(req, auth);
            if (resp.statusCode() == 401) {
                drain(resp);
                throw new AuthenticationException(req.method(), show(req.uri()), 401, refusal());
            }
        }
        if (resp.statusCode() == 403) {
            drain(resp);
            throw new AuthenticationException(req.method(), show(req.uri()), 403,
                    "access denied for scope " + req.scope() + " (" + who() + ")");
        }
        return resp;
    }

    private String refusal() {
        return credentials.map(c -> "the registry refused the credentials of user '" + c.username() + "'")
                .orElse("the registry refused anonymous access; configure credentials");
    }

    private String who() {
        return credentials.map(c -> "user '" + c.username() + "'").orElse("anonymous");
    }

    private String basicHeader() {
        Credentials c = credentials.orElseThrow();
        return "Basic " + Base64.getEncoder().encodeToString(
                (c.username() + ":" + c.secret()).getBytes(StandardCharsets.UTF_8));
    }

    /** The Authorization header to send before any challenge, or null. */
    private String preemptive(Req req) throws IOException {
        Challenge b = bearer;
        if (b != null) {
            return "Bearer " + token(b, req, false, null).value();
        }
        return basic ? basicHeader() : null;
    }

    /**
     * A token for {@code req}. Without {@code refresh}, a cached unexpired one for the request's
     * scope. With it (after a 401), one for the challenge's scope that is not {@code used} (the
     * token the registry just refused): a token another thread fetched meanwhile is taken as is.
     */
    private Token token(Challenge c, Req req, boolean refresh, String used) throws IOException {
        String realm = c.param("realm").orElseThrow(() -> new AuthenticationException(req.method(), show(req.uri()), 401,
                "Bearer challenge without a realm"));
        String service = c.param("service").orElse("");
        String scope = refresh ? c.param("scope").orElse(req.scope()) : req.scope();
        String key = realm + "\n" + service + "\n" + scope;
        Token t = tokens.get(key);
        if (t != null && t.expires().isAfter(clock.instant()) && !(refresh && t.value().equals(used))) {
            return t;
        }
        CompletableFuture<Token> mine = new CompletableFuture<>();
        CompletableFuture<Token> running = tokenFetches.putIfAbsent(key, mine);
        if (running == null) {
            try {
                Token fresh = fetchToken(realm, service, scope);
                tokens.put(key, fresh);
                // Later requests of this kind find it before any challenge.
                tokens.put(realm + "\n" + service + "\n" + req.scope(), fresh);
                mine.complete(fresh);
                return fresh;
            } catch (IOException | RuntimeException e) {
                mine.completeExceptionally(e);
                throw e;
            } finally {
                tokenFetches.remove(key, mine);
            }
        }
        try {
            return running.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for a registry token");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("token request failed: " + e.getCause(), e.getCause());
        }
    }

    private Token fetchToken(String realm, String service, String scope) throws IOException {
        StringBuilder q = new StringBuilder();
        if (!service.isEmpty()) {
            q.append("service=").append(URLEncoder.encode(service, StandardCharsets.UTF_8));
        }
        for (String s : scope.split(" ")) {
            if (!s.isBlank()) {
                q.append(q.isEmpty() ? "" : "&").append("scope=").append(URLEncoder.encode(s, StandardCharsets.UTF_8));
            }
        }
        URI uri = URI.create(realm + (q.isEmpty() ? "" : (realm.contains("?") ? "&" : "?") + q));
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(requestTimeout).GET();
        credentials.ifPresent(c -> b.header("Authorization", basicHeader()));
        HttpResponse<byte[]> resp;
        try {
            resp = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while fetching a registry token");
        }
        if (resp.statusCode() == 401 || resp.statusCode() == 403) {
            throw new AuthenticationException("GET", show(uri), resp.statusCode(),
                    "the token server refused " + who() + " for scope " + scope);
        }
        if (resp.statusCode() != 200) {
            throw new RegistryException("GET", show(uri), resp.statusCode(), List.of(), "token request for scope " + scope);
        }
        JsonNode body;
        try {
            body = json.readTree(resp.body());
        } catch (IOException e) {
            throw new IOException("token server " + show(uri) + " answered something that is not JSON");
        }
        String value = body.path("token").asText(body.path("access_token").asText(""));
        if (value.isEmpty()) {
            throw new IOException("token server " + show(uri) + " answered without a token");
        }
        long expiresIn = Math.max(body.path("expires_in").asLong(60), 1);
        // Renew a little early so a token does not expire between our check and the registry's.
        long margin = Math.min(10, expiresIn / 10);
        return new Token(value, clock.instant().plusSeconds(expiresIn - margin));
    }

    private HttpResponse<InputStream> redirected(Req req, String authorization) throws IOException {
        URI uri = req.uri();
        String auth = authorization;
        for (int hop = 0; ; hop++) {
            HttpResponse<InputStream> resp = once(req, uri, auth);
            int s = resp.statusCode();
            boolean redirect = s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
            Optional<String> location = resp.headers().firstValue("Location");
            if (!redirect || location.isEmpty() || !(req.method().equals("GET") || req.method().equals("HEAD"))) {
                return resp;
            }
            drain(resp);
            if (hop >= 5) {
                throw new IOException(req.method() + " " + show(req.uri()) + ": more than 5 redirects");
            }
            URI next = uri.resolve(location.get());
            if (!next.getRawAuthority().equals(uri.getRawAuthority()) || !next.getScheme().equals(uri.getScheme())) {
                auth = null; // never hand our credentials to another host (blob storage redirects)
            }
            uri = next;
        }
    }

    private HttpResponse<InputStream> once(Req req, URI uri, String authorization) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(requestTimeout);
        req.headers().forEach(b::header);
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        HttpRequest.BodyPublisher body = req.body() == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(req.body(), req.off(), req.len());
        b.method(req.method(), body);
        try {
            return client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted during " + req.method() + " " + show(uri));
        }
    }

    /** Reads and closes a response body we do not need, so the connection can be reused. */
    static void drain(HttpResponse<InputStream> resp) {
        try (InputStream in = resp.body()) {
            in.skip(1 << 16);
        } catch (IOException ignored) {
            // the connection is dropped instead of reused; nothing else to do
        }
    }
}

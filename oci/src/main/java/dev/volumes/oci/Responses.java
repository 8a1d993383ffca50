package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Status checks and small helpers shared by the registry calls; errors carry the OCI error codes. */
final class Responses {

    private static final int MAX_JSON = 4 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private Responses() {}

    static URI withQuery(URI uri, String query) {
        String s = uri.toString();
        return URI.create(s + (s.contains("?") ? "&" : "?") + query);
    }

    static URI location(HttpResponse<InputStream> r, URI from) throws IOException {
        String loc = r.headers().firstValue("Location").orElseThrow(() -> new IOException(
                r.request().method() + " " + Http.show(from) + ": the registry answered without a Location"));
        return from.resolve(loc);
    }

    static JsonNode readJson(HttpResponse<InputStream> r, String method, URI uri) throws IOException {
        expectOpen(r, method, uri, 200);
        try (InputStream in = r.body()) {
            return JSON.readTree(in.readNBytes(MAX_JSON));
        } catch (IOException e) {
            throw new IOException(method + " " + Http.show(uri) + ": answer is not JSON: " + e.getMessage(), e);
        }
    }

    /** Throws unless {@code r} has status {@code want}; drains the body either way. */
    static void expect(HttpResponse<InputStream> r, String method, URI uri, int want) throws IOException {
        expectOpen(r, method, uri, want);
        Http.drain(r);
    }

    /** Throws (with the OCI error codes) unless {@code r} has status {@code want} (or 200 for 201/202). */
    static void expectOpen(HttpResponse<InputStream> r, String method, URI uri, int want) throws IOException {
        int s = r.statusCode();
        if (s == want || (want != 200 && want != 206 && (s == 200 || s == 201 || s == 202 || s == 204) && want / 100 == 2)) {
            return;
        }
        List<String> codes = new ArrayList<>();
        String detail = "";
        try (InputStream in = r.body()) {
            byte[] body = in.readNBytes(64 << 10);
            if (body.length > 0) {
                try {
                    for (JsonNode e : JSON.readTree(body).path("errors")) {
                        codes.add(e.path("code").asText());
                        if (detail.isEmpty()) {
                            detail = e.path("message").asText("");
                        }
                    }
                } catch (IOException notJson) {
                    detail = new String(body, 0, Math.min(body.length, 200), StandardCharsets.UTF_8).strip();
                }
            }
        } catch (IOException ignored) {
            // status alone tells the story
        }
        throw new RegistryException(method, Http.show(uri), s, codes, detail);
    }
}

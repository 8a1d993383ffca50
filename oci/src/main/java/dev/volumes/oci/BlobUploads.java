package dev.volumes.oci;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Blob uploads for {@link RegistryClient}: monolithic (POST, then PUT with the bytes and
 * {@code ?digest=}) up to a threshold, chunked above it (POST, PATCHes with {@code Content-Range}
 * honouring {@code OCI-Chunk-Min-Length}, closing PUT). PATCH and PUT are not replayable on their
 * own, so a failed upload restarts from a new session, a bounded number of times; 4xx answers other
 * than 429 are final. Holds only configuration: thread-safe.
 */
final class BlobUploads {

    private final URI base;
    private final Http http;
    private final int chunkedThreshold;
    private final int uploadChunk;
    private final int uploadAttempts;

    BlobUploads(URI base, Http http, int chunkedThreshold, int uploadChunk, int uploadAttempts) {
        this.base = base;
        this.http = http;
        this.chunkedThreshold = chunkedThreshold;
        this.uploadChunk = uploadChunk;
        this.uploadAttempts = uploadAttempts;
    }

    /** Uploads {@code data[off, off+len)} as blob {@code digest}, restarting failed sessions. */
    void upload(String repository, Digest digest, byte[] data, int off, int len) throws IOException {
        IOException failure = null;
        for (int attempt = 1; attempt <= uploadAttempts; attempt++) {
            try {
                uploadOnce(repository, digest, data, off, len);
                return;
            } catch (AuthenticationException e) {
                throw e;
            } catch (RegistryException e) {
                if (e.status() < 500 && e.status() != 429) {
                    throw e;
                }
                failure = keep(failure, e);
            } catch (IOException e) {
                failure = keep(failure, e);
            }
        }
        throw failure;
    }

    private URI url(String repository, String suffix) {
        return base.resolve("/v2/" + repository + "/" + suffix);
    }

    private static IOException keep(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    private void uploadOnce(String repository, Digest digest, byte[] data, int off, int len) throws IOException {
        URI start = url(repository, "blobs/uploads/");
        HttpResponse<InputStream> r = http.send(Http.Req.of("POST", start, RegistryClient.push(repository),
                Map.of("Content-Type", "application/octet-stream"), true));
        Responses.expect(r, "POST", start, 202);
        URI location = Responses.location(r, start);
        int piece = uploadChunk;
        long min = r.headers().firstValueAsLong("OCI-Chunk-Min-Length").orElse(0);
        if (min > piece) {
            piece = (int) Math.min(min, Integer.MAX_VALUE - 8);
        }
        int done = 0;
        if (len > chunkedThreshold) {
            while (len - done > piece) {
                Http.Req patch = new Http.Req("PATCH", location, RegistryClient.push(repository), Map.of(
                        "Content-Type", "application/octet-stream",
                        "Content-Range", done + "-" + (done + piece - 1)), data, off + done, piece, false);
                HttpResponse<InputStream> pr = http.send(patch);
                Responses.expect(pr, "PATCH", location, 202);
                location = Responses.location(pr, location);
                done += piece;
            }
        }
        URI finish = Responses.withQuery(location, "digest=" + URLEncoder.encode(digest.value(), StandardCharsets.UTF_8));
        Map<String, String> headers = done == len ? Map.of()
                : Map.of("Content-Type", "application/octet-stream", "Content-Range", done + "-" + (len - 1));
        HttpResponse<InputStream> put = http.send(new Http.Req("PUT", finish, RegistryClient.push(repository), headers,
                data, off + done, len - done, false));
        Responses.expect(put, "PUT", finish, 201);
    }
}

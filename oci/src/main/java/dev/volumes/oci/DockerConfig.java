package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Reads registry credentials the way the docker CLI stores them in {@code HOME/.docker/config.json}:
 * {@code credHelpers[host]} first, then {@code credsStore}, then the {@code auths[host].auth}
 * base64 {@code user:password} (or {@code username}/{@code password}). A helper is the program
 * {@code docker-credential-NAME} run with {@code get} and the host on stdin; it answers JSON
 * {@code {"Username":..,"Secret":..}}. A helper that is not installed, fails or times out (10 s)
 * yields no credentials. Secrets are never logged.
 */
final class DockerConfig {

    private static final System.Logger LOG = System.getLogger(DockerConfig.class.getName());

    private final Path home;
    private final List<Path> helperDirs;
    private final ObjectMapper json = new ObjectMapper();

    /**
     * @param home the directory holding {@code .docker/config.json}
     * @param helperDirs where to look for {@code docker-credential-*} programs
     */
    DockerConfig(Path home, List<Path> helperDirs) {
        this.home = home;
        this.helperDirs = List.copyOf(helperDirs);
    }

    /** The credentials configured for {@code host} ({@code name[:port]}), if any. */
    Optional<Credentials> lookup(String host) throws IOException {
        Path file = home.resolve(".docker").resolve("config.json");
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        JsonNode root;
        try {
            root = json.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException("cannot parse docker config " + file + ": " + e.getMessage(), e);
        }
        JsonNode helper = root.path("credHelpers").path(host);
        if (helper.isTextual() && !helper.asText().isEmpty()) {
            return runHelper(helper.asText(), host);
        }
        JsonNode store = root.path("credsStore");
        if (store.isTextual() && !store.asText().isEmpty()) {
            Optional<Credentials> fromStore = runHelper(store.asText(), host);
            if (fromStore.isPresent()) {
                return fromStore;
            }
        }
        JsonNode auths = root.path("auths");
        for (Iterator<Map.Entry<String, JsonNode>> it = auths.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (normalize(e.getKey()).equals(host)) {
                return fromAuthEntry(e.getValue(), file, host);
            }
        }
        return Optional.empty();
    }

    private static Optional<Credentials> fromAuthEntry(JsonNode entry, Path file, String host) throws IOException {
        String auth = entry.path("auth").asText("");
        if (!auth.isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth.strip()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new IOException("auths[\"" + host + "\"].auth in " + file + " is not base64");
            }
            int colon = decoded.indexOf(':');
            if (colon <= 0 || colon == decoded.length() - 1) {
                throw new IOException("auths[\"" + host + "\"].auth in " + file + " is not base64 of user:password");
            }
            return Optional.of(new Credentials(decoded.substring(0, colon), decoded.substring(colon + 1)));
        }
        String user = entry.path("username").asText("");
        String pass = entry.path("password").asText("");
        return user.isEmpty() || pass.isEmpty() ? Optional.empty() : Optional.of(new Credentials(user, pass));
    }

    /** {@code https://host:port/v1/} and the like reduced to {@code host:port}. */
    static String normalize(String key) {
        String k = key;
        int scheme = k.indexOf("://");
        if (scheme >= 0) {
            k = k.substring(scheme + 3);
        }
        int slash = k.indexOf('/');
        return slash >= 0 ? k.substring(0, slash) : k;
    }

    private Optional<Credentials> runHelper(String name, String host) throws IOException {
        String program = "docker-credential-" + name;
        Optional<Path> exe = helperDirs.stream().map(d -> d.resolve(program))
                .filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst();
        if (exe.isEmpty()) {
            LOG.log(System.Logger.Level.DEBUG, "credential helper {0} is not installed", program);
            return Optional.empty();
        }
        Process p = new ProcessBuilder(exe.get().toString(), "get").redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(host.getBytes(StandardCharsets.UTF_8));
        } catch (IOException helperDidNotRead) {
            // a helper that exits without reading stdin; its answer and exit status decide
        }
        byte[] out;
        try (InputStream o = p.getInputStream()) {
            out = o.readNBytes(1 << 20);
        }
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("credential helper " + program + " did not answer within 10 s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + program, e);
        }
        if (p.exitValue() != 0) {
            return Optional.empty(); // "credentials not found" and friends
        }
        JsonNode answer;
        try {
            answer = json.readTree(out);
        } catch (IOException e) {
            throw new IOException("credential helper " + program + " answered something that is not JSON");
        }
        String user = answer.path("Username").asText("");
        String secret = answer.path("Secret").asText("");
        return user.isEmpty() || secret.isEmpty() ? Optional.empty() : Optional.of(new Credentials(user, secret));
    }
}

package dev.volumes.oci;

import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Debian's docker-registry (distribution 2.8) run as a child process on 127.0.0.1 with a free port,
 * filesystem storage in a temporary directory and deletion enabled. Auth: none, htpasswd (bcrypt
 * file made with {@code htpasswd -B}) or token (a {@link TokenServer} the registry trusts).
 */
final class TestRegistry implements AutoCloseable {

    private final Path dir;
    private final Path config;
    private final int port;
    private Process process;

    private TestRegistry(Path dir, String authYaml) throws IOException {
        this(dir, authYaml, "");
    }

    private TestRegistry(Path dir, String authYaml, String httpExtraYaml) throws IOException {
        Path exe = Peers.require("docker-registry", "docker-registry");
        this.dir = dir;
        this.port = freePort();
        Files.createDirectories(storage());
        this.config = dir.resolve("config.yml");
        Files.writeString(config, """
                version: 0.1
                log:
                  level: error
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:%d
                  secret: volumes-test-secret
                %s
                %s""".formatted(storage(), port, httpExtraYaml, authYaml), StandardCharsets.UTF_8);
        start(exe);
    }

    /** A registry without authentication. */
    static TestRegistry open(Path dir) throws IOException {
        return new TestRegistry(dir, "");
    }

    /** A registry with htpasswd Basic auth for {@code user}/{@code password}. */
    static TestRegistry withHtpasswd(Path dir, String user, String password) throws IOException {
        Path htpasswd = Peers.require("htpasswd", "apache2-utils");
        Files.createDirectories(dir);
        Path file = dir.resolve("htpasswd");
        Process p = new ProcessBuilder(htpasswd.toString(), "-Bbn", user, password).redirectErrorStream(false).start();
        byte[] out = p.getInputStream().readAllBytes();
        waitFor(p, "htpasswd");
        Files.write(file, out);
        return new TestRegistry(dir, """
                auth:
                  htpasswd:
                    realm: volumes-test
                    path: %s
                """.formatted(file));
    }

    /** A registry trusting tokens from {@code tokens}. */
    static TestRegistry withTokens(Path dir, TokenServer tokens) throws IOException {
        return new TestRegistry(dir, """
                auth:
                  token:
                    realm: %s
                    service: %s
                    issuer: %s
                    rootcertbundle: %s
                """.formatted(tokens.realm(), TokenServer.SERVICE, TokenServer.ISSUER, tokens.certificate()));
    }

    /** A registry serving HTTPS with {@code certificate}/{@code key} (PEM files). */
    static TestRegistry withTls(Path dir, Path certificate, Path key) throws IOException {
        TestRegistry r = new TestRegistry(dir, "", "  tls:\n    certificate: %s\n    key: %s".formatted(certificate, key));
        r.https = true;
        return r;
    }

    private boolean https;

    URI uri() {
        return URI.create((https ? "https" : "http") + "://127.0.0.1:" + port);
    }

    int port() {
        return port;
    }

    Path storage() {
        return dir.resolve("storage");
    }

    /** The file holding blob {@code d} in the registry's storage. */
    Path blobFile(Digest d) {
        return storage().resolve("docker/registry/v2/blobs/sha256/" + d.hex().substring(0, 2) + "/" + d.hex() + "/data");
    }

    void stop() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    void restart() throws IOException {
        stop();
        start(Peers.require("docker-registry", "docker-registry"));
    }

    private void start(Path exe) throws IOException {
        process = new ProcessBuilder(exe.toString(), "serve", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("registry.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("docker-registry exited: " + Files.readString(dir.resolve("registry.log")));
            }
            try (Socket s = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException notYet) {
                sleep(50);
            }
        }
        stop();
        throw new IOException("docker-registry did not listen on " + port + " within 20 s");
    }

    @Override
    public void close() {
        stop();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static void waitFor(Process p, String what) throws IOException {
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException(what + " failed: " + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

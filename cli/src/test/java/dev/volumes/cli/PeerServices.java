package dev.volumes.cli;

import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Storage peers the CLI's S3 and OCI tests run against, each a child process on 127.0.0.1 with a
 * free port and its state in a caller-given directory: s3proxy (the jar fetched by the cli pom at
 * pre-integration-test, SigV4 enforced, filesystem blob store) and Debian's docker-registry
 * (filesystem storage, deletion enabled, no auth). {@link #close()} stops the process.
 */
final class PeerServices implements AutoCloseable {

    final int port;
    final Map<String, String> env;
    private final Process process;

    private PeerServices(int port, Map<String, String> env, Process process) {
        this.port = port;
        this.env = env;
        this.process = process;
    }

    /** s3proxy; {@link #env} holds the AWS variables a client needs (keys, region, no endpoint). */
    static PeerServices s3proxy(Path dir) throws IOException {
        String jar = System.getProperty("volumes.s3proxy.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            Peers.missing("s3proxy jar (fetched by the cli pom at pre-integration-test; run via `bin/test -pl cli -am`) at "
                    + jar);
        }
        int port = freePort();
        String key = "ak-" + UUID.randomUUID().toString().substring(0, 8);
        String secret = "sk-" + UUID.randomUUID();
        Files.createDirectories(dir.resolve("data"));
        Files.writeString(dir.resolve("s3proxy.conf"), "s3proxy.endpoint=http://127.0.0.1:" + port + "\n"
                + "s3proxy.authorization=aws-v2-or-v4\n"
                + "s3proxy.identity=" + key + "\n"
                + "s3proxy.credential=" + secret + "\n"
                + "jclouds.provider=filesystem\n"
                + "jclouds.filesystem.basedir=" + dir.resolve("data") + "\n");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-Xmx256m", "-jar", jar, "--properties", dir.resolve("s3proxy.conf").toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("s3proxy.log").toFile()).start();
        awaitPort(p, port, dir.resolve("s3proxy.log"), 90);
        return new PeerServices(port, Map.of("AWS_ACCESS_KEY_ID", key, "AWS_SECRET_ACCESS_KEY", secret,
                "AWS_REGION", "us-east-1", "AWS_SHARED_CREDENTIALS_FILE", dir.resolve("none").toString(),
                "AWS_CONFIG_FILE", dir.resolve("none").toString()), p);
    }

    /** docker-registry without authentication. */
    static PeerServices registry(Path dir) throws IOException {
        return registry(dir, "");
    }

    /** docker-registry with htpasswd Basic auth for {@code user}/{@code password} (bcrypt file made by htpasswd -B). */
    static PeerServices registryWithPassword(Path dir, String user, String password) throws IOException {
        Path htpasswd = Peers.require("htpasswd", "apache2-utils");
        Files.createDirectories(dir);
        Process p = new ProcessBuilder(htpasswd.toString(), "-Bbn", user, password).start();
        byte[] out = p.getInputStream().readAllBytes();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("htpasswd failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        Files.write(dir.resolve("htpasswd"), out);
        return registry(dir, """
                auth:
                  htpasswd:
                    realm: volumes-cli-test
                    path: %s
                """.formatted(dir.resolve("htpasswd")));
    }

    private static PeerServices registry(Path dir, String authYaml) throws IOException {
        Path exe = Peers.require("docker-registry", "docker-registry");
        int port = freePort();
        Files.createDirectories(dir.resolve("storage"));
        Path config = dir.resolve("config.yml");
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
                http:
                  addr: 127.0.0.1:%d
                  secret: volumes-cli-test
                %s""".formatted(dir.resolve("storage"), port, authYaml));
        Process p = new ProcessBuilder(exe.toString(), "serve", config.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("registry.log").toFile()).start();
        awaitPort(p, port, dir.resolve("registry.log"), 30);
        return new PeerServices(port, Map.of(), p);
    }

    String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    private static void awaitPort(Process p, int port, Path log, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    throw new IOException("peer did not listen on " + port + "; log:\n" + Files.readString(log));
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}

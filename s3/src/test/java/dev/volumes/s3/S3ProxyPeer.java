package dev.volumes.s3;

import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * s3proxy (Maven Central org.gaul:s3proxy, jar-with-dependencies, copied into target/peers by the
 * pom at pre-integration-test) run as a child JVM on 127.0.0.1 with a free port, a filesystem
 * blobstore in a temp directory and SigV4 (aws-v2-or-v4) authentication enforced.
 */
final class S3ProxyPeer implements AutoCloseable {

    final URI endpoint;
    final AwsCredentials credentials;
    final String version;
    private final Process process;
    private final Path dir;

    private S3ProxyPeer(URI endpoint, AwsCredentials credentials, String version, Process process, Path dir) {
        this.endpoint = endpoint;
        this.credentials = credentials;
        this.version = version;
        this.process = process;
        this.dir = dir;
    }

    static S3ProxyPeer start() throws IOException {
        String jar = System.getProperty("volumes.s3proxy.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            Peers.missing("s3proxy jar (org.gaul:s3proxy jar-with-dependencies, fetched by the s3 pom at "
                    + "pre-integration-test; run via `bin/test -pl s3 -am`) at " + jar);
        }
        String version = System.getProperty("volumes.s3proxy.version", "?");
        Path dir = Files.createTempDirectory("s3proxy");
        Files.createDirectories(dir.resolve("data"));
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        AwsCredentials creds = AwsCredentials.of("ak-" + UUID.randomUUID().toString().substring(0, 8),
                "sk-" + UUID.randomUUID());
        String props = "s3proxy.endpoint=http://127.0.0.1:" + port + "\n"
                + "s3proxy.authorization=aws-v2-or-v4\n"
                + "s3proxy.identity=" + creds.accessKeyId() + "\n"
                + "s3proxy.credential=" + creds.secretAccessKey() + "\n"
                + "jclouds.provider=" + System.getProperty("volumes.s3proxy.provider", "transient") + "\n"
                + "jclouds.filesystem.basedir=" + dir.resolve("data") + "\n";
        Files.writeString(dir.resolve("s3proxy.conf"), props);
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-Xmx" + System.getProperty("volumes.s3proxy.heap", "512m"), "-jar", jar, "--properties",
                dir.resolve("s3proxy.conf").toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("s3proxy.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                break;
            } catch (IOException notYet) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    throw new IOException("s3proxy did not start on port " + port + "; log:\n"
                            + Files.readString(dir.resolve("s3proxy.log")));
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
        }
        System.out.println("s3proxy " + version + " on http://127.0.0.1:" + port + " (SigV4 enforced)");
        return new S3ProxyPeer(URI.create("http://127.0.0.1:" + port), creds, version, p, dir);
    }

    S3Config.Builder config() {
        return S3Config.builder().endpoint(endpoint).region("us-east-1").credentials(credentials)
                .backoff(java.time.Duration.ofMillis(5), java.time.Duration.ofMillis(200));
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}

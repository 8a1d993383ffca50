package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.TestCertificates;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code volumes serve} with TLS options, used by nbdinfo (libnbd) with test-made certificates:
 * TLS required refuses plaintext; {@code --tls allow} serves both; {@code --tls-client-ca} refuses
 * a client without a certificate and serves one with; inconsistent options are exit 2.
 */
class TlsServeIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void tlsRequiredAllowedAndClientCertificates() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        TestCertificates certs = TestCertificates.create(dir.resolve("certs"));
        Path data = dir.resolve("data");
        String cert = certs.serverCert().toString();
        String key = certs.serverKey().toString();

        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--volume-size", "64M", "--tls-cert", cert,
                "--tls-key", key)) {
            assertThat(daemon.output()).contains("(TLS 1.3 required)", "nbds://127.0.0.1:" + daemon.nbdPort + "/disk?tls-certificates=");
            JsonNode info = JSON.readTree(PeerRun.of(60, "nbdinfo", "--json",
                    tlsUri(daemon, certs.caOnlyDir())).ok().stdout());
            assertThat(info.get("exports").get(0).get("export-size").asLong()).isEqualTo(64L << 20);
            assertThat(PeerRun.of(60, "nbdinfo", daemon.uri("disk")).exit()).as("plaintext refused").isNotZero();
        }
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--tls-cert", cert, "--tls-key", key, "--tls", "allow")) {
            assertThat(daemon.output()).contains("TLS 1.3 offered, plaintext allowed");
            PeerRun.of(60, "nbdinfo", tlsUri(daemon, certs.caOnlyDir())).ok();
            PeerRun.of(60, "nbdinfo", daemon.uri("disk")).ok();
        }
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--tls-cert", cert, "--tls-key", key,
                "--tls-client-ca", certs.caCert().toString())) {
            assertThat(daemon.output()).contains("client certificates checked");
            PeerRun.of(60, "nbdinfo", tlsUri(daemon, certs.clientDir())).ok();
            assertThat(PeerRun.of(60, "nbdinfo", tlsUri(daemon, certs.caOnlyDir())).exit())
                    .as("no client certificate").isNotZero();
        }
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--tls-cert", cert), 2, "--tls-key");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--tls-client-ca", cert), 2, "--tls-cert");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--tls-cert", cert, "--tls-key", key, "--tls", "maybe"),
                2, "'maybe'");
        CommandsIT.assertOneLineError(Launcher.run(data, "serve", "--tls-cert", key, "--tls-key", key, "--listen",
                "127.0.0.1:0", "--metrics", "off"), 1, "certificates in");
    }

    private static String tlsUri(Launcher.Daemon daemon, Path certDir) {
        return "nbds://127.0.0.1:" + daemon.nbdPort + "/disk?tls-certificates=" + certDir;
    }
}

package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.TestCertificates;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client over TLS: against our server and {@code nbdkit --tls=require}, test-generated certificates. */
class NbdClientTlsIT {

    @TempDir
    Path dir;

    private static void roundTrip(NbdDevice d) throws IOException {
        assertThat(d.session().transport().secure()).isTrue();
        byte[] data = new byte[(3 << 20) + 11];
        new Random(3).nextBytes(data);
        d.write(ByteBuffer.wrap(data), 4095);
        d.sync();
        ByteBuffer back = ByteBuffer.allocate(data.length);
        d.read(back, 4095);
        assertThat(back.array()).isEqualTo(data);
        assertThat(d.extents(0, d.size())).isNotEmpty();
    }

    @Test
    void ourServerWithClientCertificatesByBuilderAndByUri() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        NbdTls tls = NbdTls.fromPem(certs.serverCert(), certs.serverKey()).clientCertificates(certs.caCert());
        try (NbdServer s = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).tls(tls).build()) {
            s.addExport("disk", MemoryDevice.create("disk", 16 << 20), "");
            s.start();
            int port = s.address().getPort();
            NbdClientTls client = NbdClientTls.trustPem(certs.caCert())
                    .clientCertificate(certs.clientDir().resolve("client-cert.pem"), certs.clientDir().resolve("client-key.pem"));
            try (NbdDevice d = NbdClient.builder().host("127.0.0.1").port(port).exportName("disk").tls(client)
                    .connections(2).open()) {
                roundTrip(d);
            }
            try (NbdDevice d = NbdClient.open("nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + certs.clientDir())) {
                roundTrip(d);
            }
            // Without TLS the server (FORCEDTLS) refuses: an answer, not an outage.
            assertThatThrownBy(() -> NbdClient.open("nbd://127.0.0.1:" + port + "/disk"))
                    .isInstanceOfSatisfying(NbdRefusedException.class,
                            e -> assertThat(e.errorType()).isEqualTo(Wire.REP_ERR_TLS_REQD));
            // Without a client certificate the TLS handshake fails.
            assertThatThrownBy(() -> NbdClient.open("nbds://127.0.0.1:" + port + "/disk?tls-certificates="
                    + certs.caOnlyDir())).isInstanceOf(IOException.class);
        }
    }

    @Test
    void serverCertificateIsVerifiedAgainstTheTrustedCaAndHostName() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        TestCertificates other = TestCertificates.create(dir.resolve("other"));
        try (NbdServer s = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                .tls(NbdTls.fromPem(certs.serverCert(), certs.serverKey())).build()) {
            s.addExport("disk", MemoryDevice.create("disk", 1 << 20), "");
            s.start();
            String base = "nbds://127.0.0.1:" + s.address().getPort() + "/disk?tls-certificates=";
            assertThatThrownBy(() -> NbdClient.open(base + other.caOnlyDir())).isInstanceOf(IOException.class);
            assertThatThrownBy(() -> NbdClient.open(base + certs.caOnlyDir() + "&tls-hostname=elsewhere.example"))
                    .isInstanceOf(IOException.class);
            try (NbdDevice d = NbdClient.open(base + other.caOnlyDir() + "&tls-verify-peer=false")) {
                assertThat(d.size()).isEqualTo(1 << 20);
            }
        }
    }

    /** A trust store file holding {@code caPem} as a trusted certificate entry. */
    private static Path trustStore(Path file, String type, Path caPem, char[] password) throws Exception {
        java.security.KeyStore store = java.security.KeyStore.getInstance(type);
        store.load(null, null);
        try (var in = java.nio.file.Files.newInputStream(caPem)) {
            store.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(in));
        }
        try (var out = java.nio.file.Files.newOutputStream(file)) {
            store.store(out, password);
        }
        return file;
    }

    @Test
    void trustStoreInPkcs12AndJksVerifiesTheServer() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        TestCertificates other = TestCertificates.create(dir.resolve("other"));
        char[] password = "changeit".toCharArray();
        Path p12 = trustStore(dir.resolve("trust.p12"), "PKCS12", certs.caCert(), password);
        Path jks = trustStore(dir.resolve("trust.jks"), "JKS", certs.caCert(), password);
        Path wrongCa = trustStore(dir.resolve("other.p12"), "PKCS12", other.caCert(), password);
        try (NbdServer s = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                .tls(NbdTls.fromPem(certs.serverCert(), certs.serverKey())).build()) {
            s.addExport("disk", MemoryDevice.create("disk", 16 << 20), "");
            s.start();
            NbdClient.Builder client = NbdClient.builder().port(s.address().getPort()).exportName("disk");
            for (Path store : List.of(p12, jks)) {
                try (NbdDevice d = client.tls(NbdClientTls.trustStore(store, password)).open()) {
                    roundTrip(d);
                }
            }
            assertThatThrownBy(() -> client.tls(NbdClientTls.trustStore(wrongCa, password)).open())
                    .as("a store without the server's CA").isInstanceOf(IOException.class);
            assertThatThrownBy(() -> NbdClientTls.trustStore(p12, "wrong".toCharArray()))
                    .isInstanceOf(IOException.class).hasMessageContaining(p12.toString());
        }
    }

    @Test
    void nbdkitWithTlsOverAUnixSocketVerifiesTheChain() throws Exception {
        dev.volumes.testkit.Peers.require("nbdkit", "nbdkit");
        TestCertificates certs = TestCertificates.create(dir);
        TestCertificates other = TestCertificates.create(dir.resolve("other"));
        Path socket = dir.resolve("nbdkit.sock");
        Process p = new ProcessBuilder("nbdkit", "--exit-with-parent", "-f", "-U", socket.toString(), "--tls=require",
                "--tls-certificates=" + certs.serverDir(), "memory", "size=4M").redirectErrorStream(true)
                .redirectOutput(dir.resolve("nbdkit.log").toFile()).start();
        try {
            for (int i = 0; i < 500 && !java.nio.file.Files.exists(socket); i++) {
                Thread.sleep(10);
            }
            try (NbdDevice d = NbdClient.open("nbds+unix:///?socket=" + socket + "&tls-certificates=" + certs.caOnlyDir())) {
                roundTrip(d);
            }
            assertThatThrownBy(() -> NbdClient.open("nbds+unix:///?socket=" + socket + "&tls-certificates="
                    + other.caOnlyDir())).isInstanceOf(IOException.class);
        } finally {
            p.destroyForcibly();
            p.waitFor();
        }
    }

    @Test
    void nbdkitWithTlsRequired() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        try (NbdPeer p = NbdPeer.nbdkit("--tls=require", "--tls-certificates=" + certs.serverDir(), "memory", "size=16M")) {
            try (NbdDevice d = NbdClient.open("nbds://127.0.0.1:" + p.port() + "/?tls-certificates=" + certs.caOnlyDir())) {
                roundTrip(d);
            }
            assertThatThrownBy(() -> NbdClient.open(p.uri(""))).isInstanceOfSatisfying(NbdRefusedException.class,
                    e -> assertThat(e.errorType()).isEqualTo(Wire.REP_ERR_TLS_REQD));
        }
    }
}

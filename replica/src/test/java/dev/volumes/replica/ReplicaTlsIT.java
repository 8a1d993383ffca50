package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.nbd.NbdClientTls;
import dev.volumes.nbd.NbdRefusedException;
import dev.volumes.nbd.NbdTls;
import dev.volumes.testkit.TestCertificates;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NBD connector over TLS: three {@link ReplicaServer}s that require TLS and a client
 * certificate from the test CA (openssl-made, {@link TestCertificates}); a writer claims them over
 * TLS and writes. Terms are then authenticated: a plaintext connector, and a TLS connector without
 * a client certificate, are refused before any term is promised.
 */
class ReplicaTlsIT {

    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    private TestCertificates certs;
    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<MemoryDevice> disks = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        certs = TestCertificates.create(dir.resolve("certs"));
        NbdTls tls = NbdTls.fromPem(certs.serverCert(), certs.serverKey()).clientCertificates(certs.caCert());
        for (int i = 0; i < 3; i++) {
            MemoryDevice d = MemoryDevice.create("r" + i, Replication.replicaSize(SIZE));
            disks.add(d);
            servers.add(ReplicaServer.builder().export("vol", d).stateDir(dir.resolve("server" + i)).tls(tls)
                    .start());
        }
    }

    @AfterEach
    void stop() throws IOException {
        for (ReplicaServer s : servers) {
            s.close();
        }
    }

    private ReplicaConnector.NbdBuilder connector(int i) {
        return ReplicaConnector.nbdBuilder("127.0.0.1", servers.get(i).address().getPort(), "vol")
                .requestTimeout(Duration.ofSeconds(10)).reconnectDeadline(Duration.ofMillis(500));
    }

    @Test
    void aWriterClaimsAndWritesOverTls() throws IOException {
        NbdClientTls tls = NbdClientTls.fromDirectory(certs.clientDir());
        Replication.Builder b = Replication.builder().name("vol").term(3).writer("nodeA")
                .stateDir(dir.resolve("writer")).writeTimeout(Duration.ofSeconds(5));
        for (int i = 0; i < 3; i++) {
            ReplicaConnector c = connector(i).tls(tls).build();
            assertThat(c.describe()).startsWith("nbds://127.0.0.1:");
            b.replica("r" + i, c);
        }
        byte[] data = Fixture.pattern(8192, 1);
        try (ReplicatedDevice dev = b.skipInitialSync().open()) {
            assertThat(dev.status()).extracting(ReplicaStatus::state).containsOnly(ReplicaState.IN_SYNC);
            dev.write(ByteBuffer.wrap(data), 4096);
            dev.write(ByteBuffer.wrap(data), 65536, WriteFlag.FUA);
            dev.sync();
            ByteBuffer got = ByteBuffer.allocate(data.length);
            dev.read(got, 65536);
            assertThat(got.array()).isEqualTo(data);
        }
        for (int i = 0; i < 3; i++) {
            assertThat(servers.get(i).promisedTerm("vol")).isEqualTo(3);
            ByteBuffer got = ByteBuffer.allocate(data.length);
            disks.get(i).read(got, 4096);
            assertThat(got.array()).as("r%d", i).isEqualTo(data);
        }
    }

    @Test
    void aPlaintextConnectorIsRefusedByATlsServerAndPromisesNothing() throws IOException {
        ReplicaConnector plain = connector(0).build();
        assertThat(plain.describe()).startsWith("nbd://");
        assertThatThrownBy(() -> plain.connect(5, "intruder"))
                .isInstanceOf(NbdRefusedException.class).isNotInstanceOf(FencedException.class)
                .hasMessageContaining("TLS");
        assertThat(servers.get(0).promisedTerm("vol")).as("an unauthenticated claim promised a term").isZero();
        // the engine reports the replica unreachable (not fenced) and, with none reachable, fails to open
        Replication.Builder b = Replication.builder().name("vol").term(5).writer("intruder")
                .stateDir(dir.resolve("intruder")).writeTimeout(Duration.ofSeconds(5));
        for (int i = 0; i < 3; i++) {
            b.replica("r" + i, connector(i).build());
        }
        assertThatThrownBy(b::open).isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class)
                .hasMessageContaining("unreachable at open").hasMessageContaining("TLS");
    }

    @Test
    void aTlsClientWithoutAClientCertificateCannotClaim() throws IOException {
        ReplicaConnector anonymous = connector(1).tls(NbdClientTls.fromDirectory(certs.caOnlyDir())).build();
        assertThatThrownBy(() -> {
            try (Device d = anonymous.connect(9, "anonymous")) {
                d.size(); // a TLS 1.3 client learns of the rejected certificate on its first read at the latest
            }
        }).isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class);
        assertThat(servers.get(1).promisedTerm("vol")).isZero();
    }
}

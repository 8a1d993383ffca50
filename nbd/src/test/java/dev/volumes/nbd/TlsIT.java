package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.TestCertificates;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS with libnbd (nbdinfo, nbdsh) and qemu-img, test-generated certificates. */
class TlsIT {

    @TempDir
    Path dir;

    private NbdServer server(NbdTls tls) throws Exception {
        NbdServer s = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).tls(tls).build();
        s.addExport("disk", MemoryDevice.create("disk", 16 << 20), "tls disk");
        s.start();
        return s;
    }

    @Test
    void nbdinfoAndQemuImgOverTlsAndPlaintextRefused() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("qemu-img", "qemu-utils");
        TestCertificates certs = TestCertificates.create(dir);
        try (NbdServer s = server(NbdTls.fromPem(certs.serverCert(), certs.serverKey()))) {
            int port = s.address().getPort();
            PeerRun info = PeerRun.of(60, "nbdinfo", "--json",
                    "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + certs.caOnlyDir()).ok();
            assertThat(info.stdout()).contains("\"TLS\": true").contains("\"export-size\": " + (16 << 20))
                    .contains("\"base:allocation\"");
            PeerRun plain = PeerRun.of(60, "nbdinfo", "nbd://127.0.0.1:" + port + "/disk");
            assertThat(plain.exit()).as(plain.toString()).isNotZero();
            // libnbd 1.14 reports NBD_REP_ERR_TLS_REQD as "Operation not supported"; the raw reply
            // type is asserted in forcedTlsAcceptsOnlyStartTlsAndAbortInPlaintext.
            assertThat(plain.stderr()).contains("opt_go");
            PeerRun qemu = PeerRun.of(60, "qemu-img", "info", "--output=json",
                    "--object", "tls-creds-x509,id=tls0,dir=" + certs.caOnlyDir() + ",endpoint=client",
                    "--image-opts", "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk,tls-creds=tls0").ok();
            assertThat(qemu.stdout()).contains("\"virtual-size\": " + (16 << 20));
            PeerRun qemuPlain = PeerRun.of(60, "qemu-img", "info", "nbd://127.0.0.1:" + port + "/disk");
            assertThat(qemuPlain.exit()).isNotZero();
        }
    }

    @Test
    void clientCertificatesAreRequiredWhenConfigured() throws Exception {
        Peers.require("nbdsh", "libnbd-bin");
        TestCertificates certs = TestCertificates.create(dir);
        NbdTls tls = NbdTls.fromPem(certs.serverCert(), certs.serverKey()).clientCertificates(certs.caCert());
        try (NbdServer s = server(tls)) {
            String base = "nbds://127.0.0.1:" + s.address().getPort() + "/disk?tls-certificates=";
            PeerRun with = PeerRun.of(60, "nbdsh", "-c", "h.set_uri_allow_local_file(True)",
                    "-c", "h.connect_uri('" + base + certs.clientDir() + "')",
                    "-c", "h.pwrite(b'x' * 512, 0)", "-c", "assert h.pread(512, 0) == b'x' * 512",
                    "-c", "print('tls-ok')").ok();
            assertThat(with.stdout()).contains("tls-ok");
            PeerRun without = PeerRun.of(60, "nbdinfo", base + certs.caOnlyDir());
            assertThat(without.exit()).as(without.toString()).isNotZero();
        }
    }

    @Test
    void tlsOnAUnixDomainSocketWithNbdinfoAndAClientCertificate() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("nbdsh", "libnbd-bin");
        TestCertificates certs = TestCertificates.create(dir);
        Path socket = dir.resolve("nbd.sock");
        NbdTls tls = NbdTls.fromPem(certs.serverCert(), certs.serverKey()).clientCertificates(certs.caCert());
        java.util.concurrent.atomic.AtomicReference<String> principal = new java.util.concurrent.atomic.AtomicReference<>();
        try (NbdServer s = NbdServer.builder().listen(null).unixSocket(socket).tls(tls).exportResolver((name, c) -> {
            principal.set(c.tlsPeer().map(java.security.Principal::getName).orElse("none"));
            return java.util.Optional.of(new ResolvedExport(name, null, MemoryDevice.create(name, 8 << 20), null));
        }).build()) {
            s.addExport("disk", MemoryDevice.create("disk", 16 << 20), "tls disk");
            s.start();
            String base = "nbds+unix:///disk?socket=" + socket + "&tls-certificates=";
            PeerRun with = PeerRun.of(60, "nbdsh", "-c", "h.set_uri_allow_local_file(True)",
                    "-c", "h.connect_uri('" + base + certs.clientDir() + "')",
                    "-c", "h.pwrite(b'y' * 65536, 4096)", "-c", "assert h.pread(65536, 4096) == b'y' * 65536",
                    "-c", "h.flush()", "-c", "print('unix-tls-ok', h.get_size())").ok();
            assertThat(with.stdout()).contains("unix-tls-ok " + (16 << 20));
            PeerRun resolved = PeerRun.of(60, "nbdsh", "-c", "h.set_uri_allow_local_file(True)",
                    "-c", "h.connect_uri('nbds+unix:///vol?socket=" + socket + "&tls-certificates=" + certs.clientDir() + "')",
                    "-c", "print('size', h.get_size())").ok();
            assertThat(resolved.stdout()).contains("size " + (8 << 20));
            assertThat(principal.get()).isNotEqualTo("none"); // the verified client certificate
            PeerRun plain = PeerRun.of(60, "nbdinfo", "nbd+unix:///disk?socket=" + socket);
            assertThat(plain.exit()).as(plain.toString()).isNotZero(); // TLS is required
        }
    }

    @Test
    void pkcs12KeystoreWorksToo() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        TestCertificates certs = TestCertificates.create(dir);
        Path p12 = dir.resolve("server.p12");
        PeerRun.of(60, "openssl", "pkcs12", "-export", "-in", certs.serverCert().toString(), "-inkey",
                certs.serverKey().toString(), "-out", p12.toString(), "-passout", "pass:secret").ok();
        try (NbdServer s = server(NbdTls.fromPkcs12(p12, "secret".toCharArray()))) {
            PeerRun info = PeerRun.of(60, "nbdinfo", "nbds://127.0.0.1:" + s.address().getPort() + "/disk?tls-certificates="
                    + certs.caOnlyDir()).ok();
            assertThat(info.stdout()).contains("with TLS");
        }
    }

    @Test
    void forcedTlsAcceptsOnlyStartTlsAndAbortInPlaintext() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        try (NbdServer s = server(NbdTls.fromPem(certs.serverCert(), certs.serverKey()))) {
            try (RawClient c = new RawClient(s.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                for (int option : new int[] {Wire.OPT_LIST, Wire.OPT_STRUCTURED_REPLY, 4, Wire.OPT_EXTENDED_HEADERS}) {
                    c.option(option, new byte[0]);
                    assertThat(c.reply().type()).as("option %d", option).isEqualTo(Wire.REP_ERR_TLS_REQD);
                }
                c.option(Wire.OPT_GO, RawClient.infoData("disk"));
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_TLS_REQD);
                c.option(Wire.OPT_ABORT, new byte[0]);
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            }
            try (RawClient c = new RawClient(s.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.option(Wire.OPT_EXPORT_NAME, "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                assertThat(c.closedByServer()).as("EXPORT_NAME cannot be refused, so the server hangs up").isTrue();
            }
            try (RawClient c = new RawClient(s.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.option(Wire.OPT_STARTTLS, new byte[0]);
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            }
        }
    }

    @Test
    void optionalTlsServesPlaintextAndStartTlsClientsAlike() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        try (NbdServer s = server(NbdTls.fromPem(certs.serverCert(), certs.serverKey()).requireTls(false))) {
            int port = s.address().getPort();
            // Plaintext, byte level: LIST, GO and requests are served without STARTTLS.
            try (RawClient c = new RawClient(s.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.option(Wire.OPT_LIST, new byte[0]);
                assertThat(c.reply().type()).isEqualTo(Wire.REP_SERVER);
                assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
                c.go("disk");
                c.request(0, Wire.CMD_WRITE, 1, 0, 4, new byte[] {4, 3, 2, 1});
                assertThat(c.simple()).containsExactly(0, 1);
                assertThat(s.stats().perConnection().getFirst().tls()).isFalse();
            }
            // Plaintext EXPORT_NAME too (under FORCEDTLS it would be cut off).
            try (RawClient c = new RawClient(s.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.option(Wire.OPT_EXPORT_NAME, "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                assertThat(c.read(10).getLong()).isEqualTo(16 << 20);
            }
            // Our client without TLS, and with STARTTLS: the same bytes either way.
            awaitNoConnections(s); // the raw clients' connections end on the server's own threads
            try (NbdDevice plain = NbdClient.open("nbd://127.0.0.1:" + port + "/disk");
                    NbdDevice secure = NbdClient.builder().host("127.0.0.1").port(port).exportName("disk")
                            .tls(NbdClientTls.trustPem(certs.caCert())).open()) {
                assertThat(plain.session().transport().secure()).isFalse();
                assertThat(secure.session().transport().secure()).isTrue();
                assertThat(s.stats().perConnection()).extracting(NbdServer.ConnectionStats::tls)
                        .containsExactlyInAnyOrder(false, true);
                java.nio.ByteBuffer a = java.nio.ByteBuffer.allocate(4);
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4);
                plain.read(a, 0);
                secure.read(b, 0);
                assertThat(a.array()).containsExactly(4, 3, 2, 1).isEqualTo(b.array());
            }
            if (Peers.find("nbdinfo").isPresent() || Peers.required()) {
                Peers.require("nbdinfo", "libnbd-bin");
                PeerRun tlsInfo = PeerRun.of(60, "nbdinfo", "--json",
                        "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + certs.caOnlyDir()).ok();
                assertThat(tlsInfo.stdout()).contains("\"TLS\": true");
                PeerRun plainInfo = PeerRun.of(60, "nbdinfo", "--json", "nbd://127.0.0.1:" + port + "/disk").ok();
                assertThat(plainInfo.stdout()).contains("\"TLS\": false");
            }
        }
    }

    @Test
    void javaTlsClientWritesThenServerCloseDrainsAndSyncs() throws Exception {
        TestCertificates certs = TestCertificates.create(dir);
        LifecycleTest.GatedDevice device = new LifecycleTest.GatedDevice(MemoryDevice.create(1 << 20));
        device.open.countDown();
        NbdServer s = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                .tls(NbdTls.fromPem(certs.serverCert(), certs.serverKey())).build();
        s.addExport("disk", device, null);
        s.start();
        java.security.KeyStore trust = java.security.KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (var in = java.nio.file.Files.newInputStream(certs.caCert())) {
            trust.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(in));
        }
        javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance("PKIX");
        tmf.init(trust);
        javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        ctx.init(null, tmf.getTrustManagers(), null);
        try (java.net.Socket plain = new java.net.Socket("127.0.0.1", s.address().getPort())) {
            var pin = new java.io.DataInputStream(plain.getInputStream());
            var pout = new java.io.DataOutputStream(plain.getOutputStream());
            pin.readFully(new byte[18]);
            pout.writeInt(ServerProtocolTest.FIXED_NO_ZEROES);
            pout.writeLong(Wire.IHAVEOPT);
            pout.writeInt(Wire.OPT_STARTTLS);
            pout.writeInt(0);
            pout.flush();
            byte[] reply = new byte[20];
            pin.readFully(reply);
            assertThat(java.nio.ByteBuffer.wrap(reply, 12, 4).getInt()).isEqualTo(Wire.REP_ACK);
            javax.net.ssl.SSLSocket tls = (javax.net.ssl.SSLSocket) ctx.getSocketFactory()
                    .createSocket(plain, "127.0.0.1", s.address().getPort(), true);
            tls.startHandshake();
            var in = new java.io.DataInputStream(tls.getInputStream());
            var out = new java.io.DataOutputStream(tls.getOutputStream());
            byte[] go = RawClient.infoData("disk");
            out.writeLong(Wire.IHAVEOPT);
            out.writeInt(Wire.OPT_GO);
            out.writeInt(go.length);
            out.write(go);
            out.flush();
            while (true) {
                byte[] h = new byte[20];
                in.readFully(h);
                java.nio.ByteBuffer hb = java.nio.ByteBuffer.wrap(h);
                hb.position(12);
                int type = hb.getInt();
                in.readFully(new byte[hb.getInt()]);
                if (type == Wire.REP_ACK) {
                    break;
                }
                assertThat(type).isEqualTo(Wire.REP_INFO);
            }
            out.writeInt(Wire.REQUEST_MAGIC);
            out.writeShort(0);
            out.writeShort(Wire.CMD_WRITE);
            out.writeLong(77);
            out.writeLong(0);
            out.writeInt(4);
            out.write(new byte[] {9, 8, 7, 6});
            out.flush();
            byte[] simple = new byte[16];
            in.readFully(simple);
            assertThat(java.nio.ByteBuffer.wrap(simple).getInt(4)).isZero();
            s.close(); // the connection is idle in transmission: it must stop, sync and close
            assertThat(in.read()).isEqualTo(-1);
        }
        assertThat(device.syncsAfterWrites.get()).isPositive();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4);
        device.read(b, 0);
        assertThat(b.array()).containsExactly(9, 8, 7, 6);
    }

    private static void awaitNoConnections(NbdServer s) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (s.stats().connections() != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("connections still open after 30 s: " + s.stats().perConnection());
            }
            Thread.sleep(10);
        }
    }
}

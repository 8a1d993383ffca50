package dev.volumes.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Generates a throw-away CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate with openssl, laid out the way libnbd and qemu expect a client directory
 * (ca-cert.pem, client-cert.pem, client-key.pem). Shared by every module's TLS tests.
 *
 * @param serverDir ca-cert.pem, server-cert.pem and server-key.pem (CN localhost, SAN 127.0.0.1)
 * @param clientDir ca-cert.pem, client-cert.pem and client-key.pem (a client certificate the CA signed)
 * @param caOnlyDir ca-cert.pem alone (a client that verifies the server but has no certificate)
 */
public record TestCertificates(Path serverDir, Path clientDir, Path caOnlyDir) {

    /** The server certificate. */
    public Path serverCert() {
        return serverDir.resolve("server-cert.pem");
    }

    /** The server's private key. */
    public Path serverKey() {
        return serverDir.resolve("server-key.pem");
    }

    /** The test CA's certificate. */
    public Path caCert() {
        return serverDir.resolve("ca-cert.pem");
    }

    /**
     * Generates everything under {@code dir} with openssl (skips, or fails under
     * VOLUMES_REQUIRE_PEERS=1, when openssl is missing).
     */
    public static TestCertificates create(Path dir) throws Exception {
        Peers.require("openssl", "openssl");
        Path server = Files.createDirectories(dir.resolve("server"));
        Path client = Files.createDirectories(dir.resolve("client"));
        Path caOnly = Files.createDirectories(dir.resolve("ca-only"));
        Path ext = dir.resolve("ext");
        Files.writeString(ext.resolveSibling("server.ext"), "basicConstraints=CA:FALSE\n"
                + "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                + "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        Files.writeString(ext.resolveSibling("client.ext"), "basicConstraints=CA:FALSE\n"
                + "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");
        String d = dir.toString();
        sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/ca-key.pem");
        sh("openssl req -x509 -new -key " + d + "/ca-key.pem -subj /CN=volumes-test-ca -days 2 -out " + server
                + "/ca-cert.pem -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
        for (String who : new String[] {"server", "client"}) {
            Path target = who.equals("server") ? server : client;
            sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + target + "/" + who + "-key.pem");
            sh("openssl req -new -key " + target + "/" + who + "-key.pem -subj /CN=" + (who.equals("server") ? "localhost"
                    : "volumes-test-client") + " -out " + d + "/" + who + ".csr");
            sh("openssl x509 -req -in " + d + "/" + who + ".csr -CA " + server + "/ca-cert.pem -CAkey " + d
                    + "/ca-key.pem -CAcreateserial -days 2 -extfile " + d + "/" + who + ".ext -out " + target + "/"
                    + who + "-cert.pem");
        }
        Files.copy(server.resolve("ca-cert.pem"), client.resolve("ca-cert.pem"));
        Files.copy(server.resolve("ca-cert.pem"), caOnly.resolve("ca-cert.pem"));
        return new TestCertificates(server, client, caOnly);
    }

    private static void sh(String command) throws Exception {
        PeerRun.of(60, "sh", "-c", command).ok();
    }
}

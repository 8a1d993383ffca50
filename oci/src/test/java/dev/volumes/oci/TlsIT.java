package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Key;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS: a registry with a private CA is refused by system trust alone and accepted with the CA option. */
class TlsIT {

    @TempDir
    Path tmp;

    @Test
    void privateCaIsTrustedOnlyWhenConfigured() throws Exception {
        Path store = tmp.resolve("tls.p12");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        run(keytool, "-genkeypair", "-alias", "reg", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=127.0.0.1",
                "-ext", "san=ip:127.0.0.1,dns:localhost", "-validity", "3", "-keystore", store.toString(),
                "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit");
        Path cert = tmp.resolve("cert.pem");
        run(keytool, "-exportcert", "-rfc", "-alias", "reg", "-keystore", store.toString(), "-storepass", "changeit",
                "-file", cert.toString());
        Path key = tmp.resolve("key.pem");
        Files.writeString(key, pemKey(store), StandardCharsets.US_ASCII);

        try (TestRegistry reg = TestRegistry.withTls(tmp.resolve("reg"), cert, key)) {
            assertThat(reg.uri().getScheme()).isEqualTo("https");
            RegistryClient untrusting = RegistryClient.builder(reg.uri()).useDockerConfig(false)
                    .retries(1, Duration.ZERO).build();
            assertThatThrownBy(untrusting::ping).isInstanceOf(IOException.class).hasStackTraceContaining("SSL");
            RegistryClient trusting = RegistryClient.builder(reg.uri()).useDockerConfig(false).caCertificate(cert).build();
            trusting.ping();
            OciImages.freeze(RegistryAuthIT.sample(4), trusting, ImageRef.parse("tls/vol:v1"), RegistryAuthIT.options());
            try (ImageDevice img = ImageDevice.open(trusting, ImageRef.parse("tls/vol:v1"), ImageOptions.defaults())) {
                assertThat(RegistryAuthIT.all(img)).isEqualTo(RegistryAuthIT.all(RegistryAuthIT.sample(4)));
            }
        }
    }

    private static String pemKey(Path store) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, "changeit".toCharArray());
        }
        Key k = ks.getKey("reg", "changeit".toCharArray());
        return "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(k.getEncoded())
                + "\n-----END PRIVATE KEY-----\n";
    }

    private static void run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).start();
        p.getInputStream().readAllBytes();
        TestRegistry.waitFor(p, cmd[0]);
    }
}

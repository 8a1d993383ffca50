package dev.volumes.cli;

import dev.volumes.nbd.NbdTls;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The server-side TLS options of every command that listens for NBD clients ({@code serve},
 * {@code replica serve}, {@code ha run}); a picocli mixin. No certificate means plaintext.
 */
final class TlsOptions {

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "Serve NBD over TLS 1.3 with this PEM certificate chain (leaf first); needs --tls-key.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "The certificate's unencrypted PKCS#8 PEM private key (RSA or EC).")
    Path tlsKey;

    @Option(names = "--tls-keystore", paramLabel = "FILE",
            description = "Instead of --tls-cert/--tls-key: a PKCS#12 keystore; its password in $VOLUMES_TLS_KEYSTORE_PASSWORD.")
    Path tlsKeystore;

    @Option(names = "--tls-client-ca", paramLabel = "FILE",
            description = "Require every client to present a certificate signed by one of these PEM CA certificates.")
    Path tlsClientCa;

    @Option(names = "--tls", paramLabel = "require|allow", defaultValue = "require",
            description = "With a certificate: 'require' refuses plaintext clients (default), 'allow' lets clients choose.")
    String tlsMode;

    /** The TLS settings the options ask for, or null for plaintext; inconsistent options are exit 2. */
    NbdTls tls() throws IOException {
        if (!tlsMode.equals("require") && !tlsMode.equals("allow")) {
            throw new IllegalArgumentException("--tls takes 'require' or 'allow', not '" + tlsMode + "'");
        }
        boolean pem = tlsCert != null || tlsKey != null;
        if (pem && tlsKeystore != null) {
            throw new IllegalArgumentException("give either --tls-cert with --tls-key, or --tls-keystore, not both");
        }
        if (pem && (tlsCert == null || tlsKey == null)) {
            throw new IllegalArgumentException("TLS needs both --tls-cert FILE and --tls-key FILE");
        }
        if (!pem && tlsKeystore == null) {
            if (tlsClientCa != null) {
                throw new IllegalArgumentException("--tls-client-ca needs the server's own --tls-cert and --tls-key");
            }
            return null;
        }
        NbdTls tls;
        if (pem) {
            tls = NbdTls.fromPem(tlsCert, tlsKey);
        } else {
            String password = System.getenv().getOrDefault("VOLUMES_TLS_KEYSTORE_PASSWORD", "");
            tls = NbdTls.fromPkcs12(tlsKeystore, password.toCharArray());
        }
        if (tlsClientCa != null) {
            tls = tls.clientCertificates(tlsClientCa);
        }
        return tls.requireTls(tlsMode.equals("require"));
    }
}

package dev.volumes.nbd;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS settings for an {@link NbdServer}: the server's key and certificate chain, whether TLS is
 * required, and optionally the CA certificates that client certificates must chain to.
 *
 * <p>Immutable and thread-safe. Key material is loaded once, when the instance is created, so a
 * bad file fails fast with an {@link IOException} naming the file. Sessions use TLS 1.3 only.
 *
 * <p>Modes (NBD spec, "TLS support"): with {@link #required()} (the default) the server runs in
 * FORCEDTLS mode: before {@code NBD_OPT_STARTTLS} only {@code STARTTLS} and {@code ABORT} are
 * accepted, every other option gets {@code NBD_REP_ERR_TLS_REQD} and {@code NBD_OPT_EXPORT_NAME}
 * closes the connection. With {@code requireTls(false)} clients may choose TLS or plaintext.
 * TLS is offered on TCP listeners only; on a Unix socket {@code STARTTLS} is answered with
 * {@code NBD_REP_ERR_PLATFORM}.
 */
public final class NbdTls {

    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z ]+)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

    private final KeyManagerFactory keys;
    private final TrustManagerFactory clientTrust;
    private final SSLContext context;
    private final boolean required;

    private NbdTls(KeyManagerFactory keys, TrustManagerFactory clientTrust, boolean required) throws IOException {
        this.keys = keys;
        this.clientTrust = clientTrust;
        this.required = required;
        try {
            this.context = SSLContext.getInstance("TLSv1.3");
            javax.net.ssl.TrustManager[] trust = null;
            if (clientTrust != null) {
                trust = new javax.net.ssl.TrustManager[] {
                    new ClientTrust((javax.net.ssl.X509ExtendedTrustManager) clientTrust.getTrustManagers()[0])};
            }
            context.init(keys.getKeyManagers(), trust, null);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot create a TLS 1.3 context: " + e.getMessage(), e);
        }
    }

    /**
     * Server identity from PEM files: a certificate chain (leaf first) and an unencrypted PKCS#8
     * private key ({@code -----BEGIN PRIVATE KEY-----}, RSA or EC).
     *
     * @throws IOException if a file cannot be read or does not hold what is expected
     */
    public static NbdTls fromPem(Path certificateChain, Path privateKey) throws IOException {
        List<Certificate> chain = certificates(certificateChain);
        if (chain.isEmpty()) {
            throw new IOException("no certificate found in " + certificateChain);
        }
        PrivateKey key = privateKey(privateKey);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            char[] password = new char[0];
            store.setKeyEntry("server", key, password, chain.toArray(new Certificate[0]));
            return new NbdTls(keyManagers(store, password), null, true);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use key " + privateKey + " with certificate " + certificateChain
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * Server identity from a PKCS#12 keystore holding one private key entry.
     *
     * @throws IOException if the file cannot be read, the password is wrong or there is no key
     */
    public static NbdTls fromPkcs12(Path keystore, char[] password) throws IOException {
        try (InputStream in = Files.newInputStream(keystore)) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(in, password);
            return new NbdTls(keyManagers(store, password), null, true);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot load PKCS#12 keystore " + keystore + ": " + e.getMessage(), e);
        }
    }

    /** A copy that requires TLS ({@code true}, the default) or lets clients choose. */
    public NbdTls requireTls(boolean require) {
        try {
            return new NbdTls(keys, clientTrust, require);
        } catch (IOException e) {
            throw new IllegalStateException("TLS context worked before and failed now", e);
        }
    }

    /**
     * A copy that requires every client to present a certificate chaining to one of the CA
     * certificates in {@code caCertificatesPem}; clients without one fail the TLS handshake.
     *
     * @throws IOException if the file cannot be read or holds no certificate
     */
    public NbdTls clientCertificates(Path caCertificatesPem) throws IOException {
        List<Certificate> cas = certificates(caCertificatesPem);
        if (cas.isEmpty()) {
            throw new IOException("no CA certificate found in " + caCertificatesPem);
        }
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                trust.setCertificateEntry("ca" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            return new NbdTls(keys, tmf, required);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use CA certificates " + caCertificatesPem + ": " + e.getMessage(), e);
        }
    }

    /** Whether plaintext clients are refused (FORCEDTLS). */
    public boolean required() {
        return required;
    }

    /** Whether clients must present a certificate. */
    public boolean requiresClientCertificates() {
        return clientTrust != null;
    }

    SSLContext context() {
        return context;
    }

    void configure(SSLSocket socket) {
        socket.setEnabledProtocols(new String[] {"TLSv1.3"});
        if (clientTrust != null) {
            socket.setNeedClientAuth(true);
        }
    }

    private static KeyManagerFactory keyManagers(KeyStore store, char[] password) throws GeneralSecurityException {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, password);
        return kmf;
    }

    static List<Certificate> certificates(Path pem) throws IOException {
        try (InputStream in = Files.newInputStream(pem)) {
            Collection<? extends Certificate> found = CertificateFactory.getInstance("X.509").generateCertificates(in);
            return new ArrayList<>(found);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot parse certificates in " + pem + ": " + e.getMessage(), e);
        }
    }

    static PrivateKey privateKey(Path pem) throws IOException {
        String text = Files.readString(pem, StandardCharsets.US_ASCII);
        Matcher m = PEM.matcher(text);
        while (m.find()) {
            if (!m.group(1).equals("PRIVATE KEY")) {
                continue;
            }
            byte[] der = Base64.getMimeDecoder().decode(m.group(2));
            for (String algorithm : new String[] {"RSA", "EC", "Ed25519"}) {
                try {
                    return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
                } catch (GeneralSecurityException e) {
                    // try the next algorithm
                }
            }
            throw new IOException("private key in " + pem + " is not an RSA, EC or Ed25519 PKCS#8 key");
        }
        throw new IOException("no unencrypted PKCS#8 '-----BEGIN PRIVATE KEY-----' block in " + pem
                + " (convert with: openssl pkcs8 -topk8 -nocrypt)");
    }
}

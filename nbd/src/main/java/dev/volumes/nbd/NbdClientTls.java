package dev.volumes.nbd;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * TLS settings for an {@link NbdClient}: which server certificates to trust, whether to check the
 * host name, and optionally a client certificate. Immutable and thread-safe; key material is
 * loaded when the instance is created, so a bad file fails fast with an {@link IOException}
 * naming it. Sessions use TLS 1.3 only (as {@link NbdTls} on the server side, whose PEM loading
 * this reuses).
 */
public final class NbdClientTls {

    private final KeyStore trust; // null = JDK default trust store
    private final boolean verifyPeer;
    private final KeyStore keys; // null = no client certificate
    private final String hostname; // null = the host dialled
    private final boolean checkHostname;
    private final SSLContext context;

    private NbdClientTls(KeyStore trust, boolean verifyPeer, KeyStore keys, String hostname) throws IOException {
        this(trust, verifyPeer, keys, hostname, true);
    }

    private NbdClientTls(KeyStore trust, boolean verifyPeer, KeyStore keys, String hostname, boolean checkHostname)
            throws IOException {
        this.trust = trust;
        this.verifyPeer = verifyPeer;
        this.keys = keys;
        this.hostname = hostname;
        this.checkHostname = checkHostname;
        try {
            KeyManager[] km = null;
            if (keys != null) {
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, new char[0]);
                km = kmf.getKeyManagers();
            }
            TrustManager[] tm;
            if (!verifyPeer) {
                tm = new TrustManager[] {new AcceptAny()};
            } else {
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(trust);
                tm = tmf.getTrustManagers();
            }
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(km, tm, null);
            this.context = ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot create a TLS 1.3 client context: " + e.getMessage(), e);
        }
    }

    /** Trusts the JDK's default CA certificates. */
    public static NbdClientTls systemTrust() throws IOException {
        return new NbdClientTls(null, true, null, null);
    }

    /**
     * Trusts the CA certificates in a PEM file.
     *
     * @throws IOException if the file cannot be read or holds no certificate
     */
    public static NbdClientTls trustPem(Path caCertificatesPem) throws IOException {
        List<Certificate> cas = NbdTls.certificates(caCertificatesPem);
        if (cas.isEmpty()) {
            throw new IOException("no CA certificate found in " + caCertificatesPem);
        }
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                store.setCertificateEntry("ca" + i, cas.get(i));
            }
            return new NbdClientTls(store, true, null, null);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use CA certificates " + caCertificatesPem + ": " + e.getMessage(), e);
        }
    }

    /**
     * Trusts the certificates of a keystore (PKCS#12 or JKS).
     *
     * @throws IOException if it cannot be read or the password is wrong
     */
    public static NbdClientTls trustStore(Path keystore, char[] password) throws IOException {
        try (InputStream in = Files.newInputStream(keystore)) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(in, password);
            return new NbdClientTls(store, true, null, null);
        } catch (GeneralSecurityException | IOException e) { // a wrong password is an IOException
            throw new IOException("cannot load trust store " + keystore + ": " + e.getMessage(), e);
        }
    }

    /**
     * The libnbd/qemu certificate directory layout ({@code tls-certificates=DIR} in a URI):
     * {@code ca-cert.pem} is trusted; if {@code client-cert.pem} and {@code client-key.pem} exist
     * they are presented as the client certificate.
     */
    public static NbdClientTls fromDirectory(Path dir) throws IOException {
        NbdClientTls tls = trustPem(dir.resolve("ca-cert.pem"));
        if (Files.exists(dir.resolve("client-cert.pem")) && Files.exists(dir.resolve("client-key.pem"))) {
            tls = tls.clientCertificate(dir.resolve("client-cert.pem"), dir.resolve("client-key.pem"));
        }
        return tls;
    }

    /**
     * A copy presenting a client certificate: a PEM chain (leaf first) and an unencrypted PKCS#8
     * key, loaded as {@link NbdTls#fromPem} does.
     */
    public NbdClientTls clientCertificate(Path certificateChain, Path privateKey) throws IOException {
        List<Certificate> chain = NbdTls.certificates(certificateChain);
        if (chain.isEmpty()) {
            throw new IOException("no certificate found in " + certificateChain);
        }
        PrivateKey key = NbdTls.privateKey(privateKey);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("client", key, new char[0], chain.toArray(new Certificate[0]));
            return new NbdClientTls(trust, verifyPeer, store, hostname, checkHostname);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use key " + privateKey + " with certificate " + certificateChain + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * A copy that does not verify the server's certificate at all. Insecure (anyone in the path
     * can impersonate the server); for tests and {@code tls-verify-peer=false}.
     */
    public NbdClientTls withoutPeerVerification() throws IOException {
        return new NbdClientTls(trust, false, keys, hostname, checkHostname);
    }

    /** A copy that checks the server certificate against {@code name} instead of the host dialled. */
    public NbdClientTls hostname(String name) throws IOException {
        return new NbdClientTls(trust, verifyPeer, keys, name, true);
    }

    /**
     * A copy that still verifies the certificate chain but not the host name: used on Unix
     * sockets, which have no host name, unless one is given with {@link #hostname}.
     */
    NbdClientTls withoutHostnameCheck() throws IOException {
        return new NbdClientTls(trust, verifyPeer, keys, hostname, false);
    }

    /** Whether a host name was set with {@link #hostname}. */
    boolean hasHostname() {
        return hostname != null;
    }

    /** A client-mode engine for {@code host} (Unix sockets: {@link EngineTlsTransport}). */
    javax.net.ssl.SSLEngine engine(String host, int port) {
        String expected = hostname != null ? hostname : host;
        javax.net.ssl.SSLEngine e = context.createSSLEngine(expected, port);
        e.setUseClientMode(true);
        SSLParameters params = e.getSSLParameters();
        params.setProtocols(new String[] {"TLSv1.3"});
        if (verifyPeer && checkHostname) {
            params.setEndpointIdentificationAlgorithm("HTTPS");
        }
        e.setSSLParameters(params);
        return e;
    }

    /** Runs the client side of the TLS handshake over a connected socket (after STARTTLS). */
    SSLSocket handshake(Socket plain, String host, int port) throws IOException {
        String expected = hostname != null ? hostname : host;
        SSLSocket ssl = (SSLSocket) context.getSocketFactory().createSocket(plain, expected, port, true);
        ssl.setUseClientMode(true);
        SSLParameters params = ssl.getSSLParameters();
        params.setProtocols(new String[] {"TLSv1.3"});
        if (verifyPeer && checkHostname) {
            params.setEndpointIdentificationAlgorithm("HTTPS");
        }
        ssl.setSSLParameters(params);
        ssl.startHandshake();
        return ssl;
    }

    /** Accepts every server certificate ({@link #withoutPeerVerification()}). */
    private static final class AcceptAny extends X509ExtendedTrustManager {
        @Override public void checkClientTrusted(X509Certificate[] c, String a, Socket s) {}
        @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) {}
        @Override public void checkClientTrusted(X509Certificate[] c, String a) {}
        @Override public void checkServerTrusted(X509Certificate[] c, String a, Socket s) {}
        @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) {}
        @Override public void checkServerTrusted(X509Certificate[] c, String a) {}
        @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }
}

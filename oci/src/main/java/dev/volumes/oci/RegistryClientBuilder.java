package dev.volumes.oci;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * Configures a {@link RegistryClient}. Defaults: anonymous unless {@code ~/.docker/config.json}
 * holds credentials for the host; system trust store; 10 s connect and 60 s request timeouts;
 * 4 attempts with 200 ms doubling backoff; blobs above 32 MiB uploaded in 16 MiB PATCH chunks.
 * Plain {@code http} is refused unless the host is a loopback address or {@link #insecure(boolean)}
 * is set. Not thread-safe; the client it builds is.
 */
public final class RegistryClientBuilder {

    private final URI base;
    private Credentials credentials;
    private Path home = Path.of(System.getProperty("user.home"));
    private boolean dockerConfig = true;
    private List<Path> helperDirs;
    private Path caCertificate;
    private boolean insecure;
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Duration requestTimeout = Duration.ofSeconds(60);
    private Duration backoff = Duration.ofMillis(200);
    private int attempts = 4;
    private int chunkedThreshold = 32 << 20;
    private int uploadChunk = 16 << 20;
    private Clock clock = Clock.systemUTC();

    RegistryClientBuilder(URI base) {
        if (base == null || base.getScheme() == null || base.getRawAuthority() == null) {
            throw new IllegalArgumentException("registry base URI needs a scheme and host, e.g. https://host:5000: " + base);
        }
        if (!base.getScheme().equals("https") && !base.getScheme().equals("http")) {
            throw new IllegalArgumentException("registry base URI must be http or https: " + base);
        }
        this.base = URI.create(base.getScheme() + "://" + base.getRawAuthority() + "/");
    }

    /** Explicit credentials; they win over the docker config. */
    public RegistryClientBuilder credentials(Credentials credentials) {
        this.credentials = credentials;
        return this;
    }

    /** The home directory whose {@code .docker/config.json} is consulted (default {@code user.home}). */
    public RegistryClientBuilder home(Path home) {
        this.home = home;
        return this;
    }

    /** Whether to consult the docker config at all (default true). */
    public RegistryClientBuilder useDockerConfig(boolean use) {
        this.dockerConfig = use;
        return this;
    }

    /** Where to look for {@code docker-credential-*} helpers (default: the directories on PATH). */
    public RegistryClientBuilder credentialHelperDirectories(List<Path> dirs) {
        this.helperDirs = List.copyOf(dirs);
        return this;
    }

    /** An extra PEM CA certificate to trust in addition to the system trust store. */
    public RegistryClientBuilder caCertificate(Path pem) {
        this.caCertificate = pem;
        return this;
    }

    /** Allow plain http to a non-loopback host (default false). */
    public RegistryClientBuilder insecure(boolean insecure) {
        this.insecure = insecure;
        return this;
    }

    /** Connection timeout (default 10 s). */
    public RegistryClientBuilder connectTimeout(Duration timeout) {
        this.connectTimeout = positive(timeout, "connect timeout");
        return this;
    }

    /** Time to wait for response headers of one request (default 60 s). */
    public RegistryClientBuilder requestTimeout(Duration timeout) {
        this.requestTimeout = positive(timeout, "request timeout");
        return this;
    }

    /** Attempts per replayable request and per blob upload, at least 1 (default 4), and the first backoff. */
    public RegistryClientBuilder retries(int attempts, Duration backoff) {
        if (attempts < 1) {
            throw new IllegalArgumentException("attempts must be at least 1: " + attempts);
        }
        this.attempts = attempts;
        this.backoff = backoff.isNegative() ? Duration.ZERO : backoff;
        return this;
    }

    /** Blobs larger than {@code threshold} bytes are uploaded in PATCH chunks of {@code chunk} bytes. */
    public RegistryClientBuilder chunkedUpload(int threshold, int chunk) {
        if (threshold < 1 || chunk < 1) {
            throw new IllegalArgumentException("chunked upload threshold and chunk must be positive");
        }
        this.chunkedThreshold = threshold;
        this.uploadChunk = chunk;
        return this;
    }

    /** The clock token expiry is measured with (tests). */
    public RegistryClientBuilder clock(Clock clock) {
        this.clock = clock;
        return this;
    }

    /**
     * Builds the client. Reads the docker config (and runs a credential helper) now.
     *
     * @throws IOException if the docker config is unreadable or the CA certificate cannot be loaded
     * @throws IllegalArgumentException if plain http is asked for a non-loopback host without insecure
     */
    public RegistryClient build() throws IOException {
        if (base.getScheme().equals("http") && !insecure && !loopback(base.getHost())) {
            throw new IllegalArgumentException("plain http to " + base.getRawAuthority()
                    + " is refused: use https, or set insecure(true) if you accept an unencrypted registry");
        }
        Optional<Credentials> creds = Optional.ofNullable(credentials);
        if (creds.isEmpty() && dockerConfig) {
            creds = new DockerConfig(home, helperDirs != null ? helperDirs : pathDirs()).lookup(base.getRawAuthority());
        }
        HttpClient.Builder hb = HttpClient.newBuilder().connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER).version(HttpClient.Version.HTTP_1_1);
        if (caCertificate != null) {
            hb.sslContext(sslContext(caCertificate));
        }
        Http http = new Http(hb.build(), creds, attempts, requestTimeout, backoff, clock);
        return new RegistryClient(base, http, chunkedThreshold, uploadChunk, attempts);
    }

    private static boolean loopback(String host) {
        if (host == null) {
            return false;
        }
        if (host.equals("localhost")) {
            return true;
        }
        try {
            String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
            return (Character.digit(h.charAt(0), 16) >= 0 || h.contains(":")) && InetAddress.getByName(h).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static List<Path> pathDirs() {
        List<Path> dirs = new ArrayList<>();
        for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!d.isEmpty()) {
                dirs.add(Path.of(d));
            }
        }
        return dirs;
    }

    private static Duration positive(Duration d, String what) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be positive: " + d);
        }
        return d;
    }

    private static SSLContext sslContext(Path pem) throws IOException {
        try {
            X509Certificate ca;
            try (InputStream in = Files.newInputStream(pem)) {
                ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            }
            TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            system.init((KeyStore) null);
            KeyStore extra = KeyStore.getInstance(KeyStore.getDefaultType());
            extra.load(null, null);
            extra.setCertificateEntry("volumes-extra-ca", ca);
            TrustManagerFactory custom = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            custom.init(extra);
            X509TrustManager a = x509(system.getTrustManagers());
            X509TrustManager b = x509(custom.getTrustManagers());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, new TrustManager[] {new EitherTrustManager(a, b)}, null);
            return ctx;
        } catch (CertificateException e) {
            throw new IOException("cannot read CA certificate " + pem + ": " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS trust with " + pem + ": " + e.getMessage(), e);
        }
    }

    private static X509TrustManager x509(TrustManager[] managers) {
        for (TrustManager m : managers) {
            if (m instanceof X509TrustManager x) {
                return x;
            }
        }
        throw new IllegalStateException("no X509TrustManager available");
    }

    /** Trusts a server chain if either the system store or the extra CA does. */
    private record EitherTrustManager(X509TrustManager first, X509TrustManager second) implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            first.checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                first.checkServerTrusted(chain, authType);
            } catch (CertificateException e) {
                second.checkServerTrusted(chain, authType);
            }
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            X509Certificate[] a = first.getAcceptedIssuers();
            X509Certificate[] b = second.getAcceptedIssuers();
            X509Certificate[] all = java.util.Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, all, a.length, b.length);
            return all;
        }
    }
}

package dev.volumes.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code volumes serve}: the daemon. See {@link Daemon}. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve every volume, snapshot (read-only) and clone of the pool over NBD.",
            "On first run, creates DIR/default.pool with a volume 'disk'. Ctrl-C or SIGTERM stops it cleanly."})
final class ServeCommand implements Callable<Integer> {

    @Mixin CommonOptions common;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:10809",
            description = "NBD TCP address (default ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--unix", paramLabel = "PATH", description = "Also serve NBD on this Unix socket.")
    Path unix;

    @Option(names = "--metrics", paramLabel = "HOST:PORT|off", defaultValue = "127.0.0.1:10810",
            description = "Prometheus /metrics address, or 'off' (default ${DEFAULT-VALUE}).")
    String metrics;

    @Option(names = "--pool-size", paramLabel = "SIZE", defaultValue = "64G",
            description = "Capacity of the pool created on first run (sparse; default ${DEFAULT-VALUE}).")
    String poolSize;

    @Option(names = "--volume-size", paramLabel = "SIZE", defaultValue = "10G",
            description = "Size of the volume 'disk' created on first run (default ${DEFAULT-VALUE}).")
    String volumeSize;

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

    @Override
    public Integer call() throws Exception {
        Daemon.Options options = new Daemon.Options(Addresses.parse(listen, "--listen"), unix,
                "off".equalsIgnoreCase(metrics) ? null : Addresses.parse(metrics, "--metrics"),
                Sizes.parse(poolSize), Sizes.parse(volumeSize), tls());
        DataDir dir = common.dir();
        Daemon daemon = Daemon.start(dir, options, System.out);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("volumes: stopping: draining requests, syncing, closing the pool...");
            try {
                daemon.close();
                System.out.println("volumes: stopped cleanly.");
            } catch (Exception e) {
                System.err.println("volumes: error while stopping: " + Failures.message(e));
            } finally {
                stopped.countDown();
            }
        }, "volumes-shutdown"));
        daemon.printWelcome(dir, System.out);
        stopped.await();
        return 0;
    }

    /** The TLS settings the options ask for, or null for plaintext; inconsistent options are exit 2. */
    dev.volumes.nbd.NbdTls tls() throws java.io.IOException {
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
        dev.volumes.nbd.NbdTls tls;
        if (pem) {
            tls = dev.volumes.nbd.NbdTls.fromPem(tlsCert, tlsKey);
        } else {
            String password = System.getenv().getOrDefault("VOLUMES_TLS_KEYSTORE_PASSWORD", "");
            tls = dev.volumes.nbd.NbdTls.fromPkcs12(tlsKeystore, password.toCharArray());
        }
        if (tlsClientCa != null) {
            tls = tls.clientCertificates(tlsClientCa);
        }
        return tls.requireTls(tlsMode.equals("require"));
    }
}

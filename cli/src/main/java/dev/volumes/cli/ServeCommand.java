package dev.volumes.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
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

    @Mixin TlsOptions tlsOptions;

    @Override
    public Integer call() throws Exception {
        Daemon.Options options = new Daemon.Options(Addresses.parse(listen, "--listen"), unix,
                "off".equalsIgnoreCase(metrics) ? null : Addresses.parse(metrics, "--metrics"),
                Sizes.parse(poolSize), Sizes.parse(volumeSize), tlsOptions.tls());
        DataDir dir = common.dir();
        Daemon daemon = Daemon.start(dir, options, System.out);
        daemon.printWelcome(dir, System.out);
        Foreground.runUntilStopped(daemon, "the daemon: draining requests, syncing, closing the pool");
        return 0;
    }
}

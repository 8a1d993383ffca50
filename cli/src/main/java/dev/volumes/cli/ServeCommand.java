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

    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "1024",
            description = "NBD connections served at once; more are closed before the greeting (default ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--handshake-timeout", paramLabel = "DURATION", defaultValue = "30s",
            description = "Close a connection that has not finished negotiating by then (default ${DEFAULT-VALUE}).")
    String handshakeTimeout;

    @Option(names = "--tcp-send-buffer", paramLabel = "SIZE|auto",
            description = {"TCP send buffer of every NBD connection, or 'auto' for the kernel's autotuning.",
                "Default: 512K for clients on a loopback address, autotuning for remote ones."})
    String tcpSendBuffer;

    @Mixin TlsOptions tlsOptions;

    /** Largest accepted {@code --tcp-send-buffer} (the kernel caps it lower anyway). */
    static final long MAX_SEND_BUFFER = 1L << 30;

    @Override
    public Integer call() throws Exception {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("--max-connections must be at least 1, not " + maxConnections);
        }
        java.time.Duration handshake = Durations.parse(handshakeTimeout, "--handshake-timeout");
        if (handshake.isZero()) {
            throw new IllegalArgumentException("--handshake-timeout must be longer than 0");
        }
        Daemon.Connections connections = new Daemon.Connections(maxConnections, handshake, sendBuffer(tcpSendBuffer));
        Daemon.Options options = new Daemon.Options(Addresses.parse(listen, "--listen"), unix,
                "off".equalsIgnoreCase(metrics) ? null : Addresses.parse(metrics, "--metrics"),
                Sizes.parse(poolSize), Sizes.parse(volumeSize), tlsOptions.tls(), connections);
        DataDir dir = common.dir();
        Daemon daemon = Daemon.start(dir, options, System.out);
        daemon.printWelcome(dir, System.out);
        Foreground.runUntilStopped(daemon, "the daemon: draining requests, syncing, closing the pool");
        return 0;
    }

    /** {@code null} (not given), 0 ({@code auto}) or a size in bytes. */
    static Integer sendBuffer(String text) {
        if (text == null) {
            return null;
        }
        if ("auto".equalsIgnoreCase(text.trim())) {
            return 0;
        }
        long bytes = Sizes.parse(text);
        if (bytes < 1 || bytes > MAX_SEND_BUFFER) {
            throw new IllegalArgumentException("--tcp-send-buffer must be 'auto' or a size from 1 byte to 1G, not '"
                    + text + "'");
        }
        return (int) bytes;
    }
}

package dev.volumes.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code volumes replica ...}: the replica side of replicated volumes (docs/replication.md, docs/cli.md). */
@Command(name = "replica", mixinStandardHelpOptions = true,
        description = "Serve this node's pool volumes as term-fenced replicas of replicated volumes.",
        subcommands = {ReplicaCommand.Serve.class, CommandLine.HelpCommand.class})
final class ReplicaCommand {

    /** {@code volumes replica serve [--create SIZE] VOLUME...}. */
    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = {"Serve pool volumes as term-fenced NBD replica exports until Ctrl-C or SIGTERM.",
                "A writer ('volumes ha run') claims a replica with its term; the replica durably promises it,",
                "refuses every older term and cuts older writers off. Needs the data directory's pool to itself."})
    static final class Serve implements Callable<Integer> {

        @Mixin CommonOptions common;

        @Parameters(arity = "1..*", paramLabel = "VOLUME", description = "Volumes to serve as replica exports.")
        List<String> volumes;

        @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:10900",
                description = "Address for writers (default ${DEFAULT-VALUE}).")
        String listen;

        @Option(names = "--create", paramLabel = "SIZE",
                description = "Create missing volumes (and the pool) for a replicated volume of SIZE; "
                        + "each gets SIZE plus the 64 KiB replica header.")
        String create;

        @Option(names = "--pool-size", paramLabel = "SIZE", defaultValue = "64G",
                description = "Capacity of the pool --create makes when there is none (sparse; default ${DEFAULT-VALUE}).")
        String poolSize;

        @Option(names = "--metrics", paramLabel = "HOST:PORT|off", defaultValue = "off",
                description = "Prometheus /metrics address (promised terms, pool space), or 'off' (default).")
        String metrics;

        @Option(names = "--claim-timeout", paramLabel = "DURATION", defaultValue = "10s",
                description = "How long a new writer's claim waits for an older writer's running requests (default ${DEFAULT-VALUE}).")
        String claimTimeout;

        @Mixin TlsOptions tlsOptions;

        @Override
        public Integer call() throws Exception {
            for (String v : volumes) {
                if (volumes.indexOf(v) != volumes.lastIndexOf(v)) {
                    throw new IllegalArgumentException("volume '" + v + "' is named twice");
                }
            }
            long createSize = create == null ? 0 : Sizes.parse(create);
            if (create != null && createSize <= 0) {
                throw new IllegalArgumentException("--create needs the replicated volume's size, above 0 (e.g. 10G)");
            }
            ReplicaNode.Options options = new ReplicaNode.Options(Addresses.parse(listen, "--listen"), volumes,
                    createSize, Sizes.parse(poolSize),
                    "off".equalsIgnoreCase(metrics) ? null : Addresses.parse(metrics, "--metrics"),
                    Durations.parse(claimTimeout, "--claim-timeout"), tlsOptions.tls());
            DataDir dir = common.dir();
            ReplicaNode node = ReplicaNode.start(dir, options, System.out);
            node.printWelcome(dir, System.out);
            Foreground.runUntilStopped(node, "the replica server: cutting writers off, syncing, closing the pool");
            return 0;
        }
    }
}

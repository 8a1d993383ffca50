package dev.volumes.cli;

import dev.volumes.ha.ReadPolicy;
import dev.volumes.replica.ReplicationMode;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code volumes ha ...}: highly available replicated volumes (docs/ha.md, docs/cli.md). */
@Command(name = "ha", mixinStandardHelpOptions = true,
        description = "Highly available replicated volumes: ZooKeeper elects one writer, which fences the replicas with its term.",
        subcommands = {HaCommand.Run.class, CommandLine.HelpCommand.class})
final class HaCommand {

    /** Environment variable with {@code USER:PASSWORD} for ZooKeeper digest authentication (kept off the command line). */
    static final String DIGEST_ENV = "VOLUMES_ZOOKEEPER_DIGEST";

    /** {@code volumes ha run --volume NAME --size SIZE --zookeeper HOSTS --replica URI...}. */
    @Command(name = "run", mixinStandardHelpOptions = true,
            description = {"Run this node's part of a highly available volume until Ctrl-C or SIGTERM:",
                "campaign in ZooKeeper; when elected, claim the replicas with the new term (they refuse the old",
                "writer from then on) and accept writes; serve the volume over NBD either way (a follower refuses writes)."})
    static final class Run implements Callable<Integer> {

        @Mixin CommonOptions common;

        @Option(names = "--volume", required = true, paramLabel = "NAME",
                description = "The replicated volume: its NBD export name and its ZooKeeper group.")
        String volume;

        @Option(names = "--size", required = true, paramLabel = "SIZE",
                description = "Its size: what 'replica serve --create SIZE' made (each replica holds SIZE + 64 KiB).")
        String size;

        @Option(names = "--replica", required = true, paramLabel = "[ID=]URI",
                description = "A replica: nbd://HOST:PORT/EXPORT or nbds://HOST:PORT/EXPORT?tls-certificates=DIR "
                        + "(as 'replica serve' prints). Repeat for each; every node lists the same replicas.")
        List<String> replicas;

        @Option(names = "--zookeeper", required = true, paramLabel = "HOST:PORT[,...]",
                description = "ZooKeeper connect string. Digest auth: USER:PASSWORD in $" + DIGEST_ENV + ".")
        String zooKeeper;

        @Option(names = "--node-id", paramLabel = "ID", description = "This node's id (default: the host name).")
        String nodeId;

        @Option(names = "--mode", paramLabel = "quorum|min-in-sync=N", defaultValue = "quorum",
                description = "quorum (default): a write needs a majority, which also fences an old writer with no "
                        + "power switch; min-in-sync=N: N replicas (pair it with --fence-command).")
        String mode;

        @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:10809",
                description = "NBD address for clients (default ${DEFAULT-VALUE}).")
        String listen;

        @Option(names = "--unix", paramLabel = "PATH", description = "Also serve NBD on this Unix socket.")
        Path unix;

        @Option(names = "--metrics", paramLabel = "HOST:PORT|off", defaultValue = "off",
                description = "Prometheus /metrics address (leadership, term, counters, replica states), or 'off' (default).")
        String metrics;

        @Option(names = "--chroot", paramLabel = "PATH", defaultValue = "volumes",
                description = "ZooKeeper namespace (default ${DEFAULT-VALUE}).")
        String chroot;

        @Option(names = "--session-timeout", paramLabel = "DURATION", defaultValue = "6s",
                description = "ZooKeeper session timeout: a dead leader is replaced after about this long (default ${DEFAULT-VALUE}).")
        String sessionTimeout;

        @Option(names = "--connection-timeout", paramLabel = "DURATION", defaultValue = "3s",
                description = "ZooKeeper connection timeout (default ${DEFAULT-VALUE}).")
        String connectionTimeout;

        @Option(names = "--write-timeout", paramLabel = "DURATION", defaultValue = "10s",
                description = "How long a replica may take for one request before it drops out of sync (default ${DEFAULT-VALUE}).")
        String writeTimeout;

        @Option(names = "--rebuild-rate", paramLabel = "SIZE", defaultValue = "0",
                description = "Bytes per second for rebuilding an out-of-sync replica, e.g. 100M; 0 = unthrottled (default).")
        String rebuildRate;

        @Option(names = "--fence-command", paramLabel = "COMMAND",
                description = "A program run before claiming the storage, e.g. 'stonith --term {term} --node {node}' "
                        + "(split on spaces, no shell); it must exit 0 or the node is not promoted.")
        String fenceCommand;

        @Option(names = "--fence-timeout", paramLabel = "DURATION", defaultValue = "30s",
                description = "How long --fence-command may run (default ${DEFAULT-VALUE}).")
        String fenceTimeout;

        @Option(names = "--read-policy", paramLabel = "leader|any", defaultValue = "leader",
                description = "leader (default): only the leader serves reads; any: followers serve (possibly stale) reads too.")
        String readPolicy;

        @Option(names = "--skip-initial-sync",
                description = "The replicas were all just created empty by 'replica serve --create': skip the first full copy.")
        boolean skipInitialSync;

        @Mixin TlsOptions tlsOptions;

        @Override
        public Integer call() throws Exception {
            List<ReplicaAddress> parsed = new ArrayList<>();
            for (String r : replicas) {
                ReplicaAddress a = ReplicaAddress.parse(r);
                if (parsed.stream().anyMatch(p -> p.id().equals(a.id()))) {
                    throw new IllegalArgumentException("replica '" + a.id() + "' is listed twice");
                }
                parsed.add(a);
            }
            ReplicationMode m = mode(parsed.size());
            String node = nodeId != null ? nodeId : InetAddress.getLocalHost().getHostName();
            long bytes = Sizes.parse(size);
            if (bytes <= 0) {
                throw new IllegalArgumentException("--size must be above 0");
            }
            if (!volume.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}")) {
                throw new IllegalArgumentException("bad --volume '" + volume
                        + "': letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128");
            }
            HaRunner.Options options = new HaRunner.Options(volume, bytes, node, parsed, m, zooKeeper, chroot,
                    Durations.parse(sessionTimeout, "--session-timeout"),
                    Durations.parse(connectionTimeout, "--connection-timeout"), System.getenv(DIGEST_ENV),
                    Addresses.parse(listen, "--listen"), unix, tlsOptions.tls(),
                    "off".equalsIgnoreCase(metrics) ? null : Addresses.parse(metrics, "--metrics"),
                    Durations.parse(writeTimeout, "--write-timeout"), Sizes.parse(rebuildRate),
                    fenceCommand == null ? null : Arrays.asList(fenceCommand.trim().split("\\s+")),
                    Durations.parse(fenceTimeout, "--fence-timeout"), readPolicy(), skipInitialSync);
            DataDir dir = common.dir();
            HaRunner runner = HaRunner.start(dir, options, System.out);
            runner.printWelcome(System.out);
            Foreground.runUntilStopped(runner, "node " + node + ": draining requests, resigning, committing the replication state");
            return 0;
        }

        private ReplicationMode mode(int replicaCount) {
            String m = mode.toLowerCase(Locale.ROOT);
            ReplicationMode chosen;
            if (m.equals("quorum")) {
                chosen = ReplicationMode.QUORUM;
            } else if (m.startsWith("min-in-sync=")) {
                int n;
                try {
                    n = Integer.parseInt(m.substring("min-in-sync=".length()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bad --mode '" + mode + "': min-in-sync=N needs a number");
                }
                chosen = ReplicationMode.minInSync(n);
            } else {
                throw new IllegalArgumentException("bad --mode '" + mode + "': expected quorum or min-in-sync=N");
            }
            chosen.required(replicaCount); // checks N against the replica count
            return chosen;
        }

        private ReadPolicy readPolicy() {
            return switch (readPolicy.toLowerCase(Locale.ROOT)) {
                case "leader" -> ReadPolicy.LEADER_ONLY;
                case "any" -> ReadPolicy.ANY_STATE;
                default -> throw new IllegalArgumentException("bad --read-policy '" + readPolicy + "': leader or any");
            };
        }
    }
}

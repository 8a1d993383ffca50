package dev.volumes.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code volumes} command. Errors are one line on stderr ({@code volumes: error: ...}) and
 * the exit code says what kind ({@link ExitCode}; documented in docs/cli.md).
 */
@Command(name = "volumes", mixinStandardHelpOptions = true, version = "volumes 0.1.0",
        description = "Copy-on-write volume pools served over NBD.",
        subcommands = {ServeCommand.class, PoolCommand.class, VolumeCommand.class, SnapshotCommand.class,
            CloneCommand.class, DiffCommand.class, ExportCommand.class, ImportCommand.class, OciCommand.class,
            ReplicaCommand.class, HaCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 exists, 5 pool full, 6 in use, 7 read-only, 8 check found problems."})
public final class Main {

    @picocli.CommandLine.Option(names = "--data-dir", paramLabel = "DIR",
            description = "Data directory holding default.pool and control.sock (default: $VOLUMES_DATA_DIR or ./volumes-data).")
    java.nio.file.Path dataDir;

    private Main() {}

    /**
     * Loggers of the libraries under the ZooKeeper coordinator, kept reachable so their levels
     * stick (java.util.logging holds loggers weakly). Their INFO chatter is not for operators;
     * the coordinator reports connection state itself.
     */
    private static final java.util.List<java.util.logging.Logger> QUIET = java.util.List.of(
            java.util.logging.Logger.getLogger("org.apache.zookeeper"),
            java.util.logging.Logger.getLogger("org.apache.curator"));

    public static void main(String[] args) {
        configureLogging();
        System.exit(run(args));
    }

    /**
     * One line per log record on stderr ({@code volumes: WARNING: message}) unless the user set
     * a format or a logging configuration; ZooKeeper and Curator only from SEVERE.
     */
    static void configureLogging() {
        if (System.getProperty("java.util.logging.config.file") == null
                && System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "volumes: %4$s: %5$s%6$s%n");
            QUIET.forEach(l -> l.setLevel(java.util.logging.Level.SEVERE));
        }
    }

    /** Runs the command line and returns the exit code (for tests and embedding). */
    static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler((e, argv) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println("volumes: " + e.getMessage().replace('\n', ' ') + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return ExitCode.USAGE.code;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            ExitCode code = Failures.exitCode(e);
            PrintWriter err = commandLine.getErr();
            err.println("volumes: error: " + Failures.message(e));
            if (code == ExitCode.FAILURE && System.getenv("VOLUMES_DEBUG") != null) {
                e.printStackTrace(err);
            }
            err.flush();
            return code.code;
        });
        return cli.execute(args);
    }
}

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
            ReplicaCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 exists, 5 pool full, 6 in use, 7 read-only, 8 check found problems."})
public final class Main {

    @picocli.CommandLine.Option(names = "--data-dir", paramLabel = "DIR",
            description = "Data directory holding default.pool and control.sock (default: $VOLUMES_DATA_DIR or ./volumes-data).")
    java.nio.file.Path dataDir;

    private Main() {}

    public static void main(String[] args) {
        System.exit(run(args));
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

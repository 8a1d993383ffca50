package dev.volumes.cli;

import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Options every pool-facing command takes (a picocli mixin). */
final class CommonOptions {

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Data directory holding default.pool and control.sock (default: $VOLUMES_DATA_DIR or ./volumes-data).")
    Path dataDir;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    /** {@code --data-dir} given after the command, else before it ({@code volumes --data-dir DIR ...}). */
    DataDir dir() {
        Path chosen = dataDir;
        if (chosen == null && mixee != null && mixee.root().userObject() instanceof Main main) {
            chosen = main.dataDir;
        }
        return DataDir.resolve(chosen);
    }

    Printer printer() {
        return new Printer(System.out, json);
    }

    /** The running daemon's control API if one answers, else the pool file opened directly. */
    PoolService service() throws IOException {
        DataDir dir = dir();
        PoolService remote = ControlClient.connect(dir.controlSocket()).orElse(null);
        return remote != null ? remote : LocalPoolService.open(dir);
    }
}

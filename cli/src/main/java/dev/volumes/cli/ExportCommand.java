package dev.volumes.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes export NAME FILE} (also {@code volumes volume export}). */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write volume, snapshot or clone NAME to the new sparse raw file FILE (holes and zero blocks stay holes; "
            + "never overwrites).", "On a running daemon a live volume is exported through a temporary snapshot (one consistent point)."})
final class ExportCommand implements Callable<Integer> {
    @Mixin CommonOptions common;
    @Parameters(index = "0", paramLabel = "NAME") String name;
    @Parameters(index = "1", paramLabel = "FILE") Path file;

    @Override
    public Integer call() throws Exception {
        Path target = file.toAbsolutePath();
        LocalPoolService.checkExportTarget(target);
        ProgressBar bar = ProgressBar.forCommand("export " + name, common.json);
        try (PoolService service = common.service()) {
            VolumeView v = service.exportRaw(name, target, bar);
            bar.finish("wrote " + target + " (" + Sizes.format(v.size()) + ")");
            common.printer().volume(v);
        }
        return 0;
    }
}

package dev.volumes.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes import FILE NAME} (also {@code volumes volume import}). */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Import the raw image FILE as a new volume NAME of the file's size, in one commit: holes and zero "
            + "blocks take no space; on any failure (a full pool included) no volume is left behind.",
            "On a running daemon the new volume is exported at once."})
final class ImportCommand implements Callable<Integer> {
    @Mixin CommonOptions common;
    @Parameters(index = "0", paramLabel = "FILE") Path file;
    @Parameters(index = "1", paramLabel = "NAME") String name;

    @Override
    public Integer call() throws Exception {
        Path source = file.toAbsolutePath();
        ProgressBar bar = ProgressBar.forCommand("import " + name, common.json);
        try (PoolService service = common.service()) {
            VolumeView v = service.importRaw(source, name, bar);
            bar.finish("imported " + source + " as " + v.name() + " (" + Sizes.format(v.allocatedBytes()) + " stored)");
            common.printer().volume(v);
        }
        return 0;
    }
}

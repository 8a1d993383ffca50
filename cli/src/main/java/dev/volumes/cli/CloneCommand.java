package dev.volumes.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes clone SOURCE NAME}. */
@Command(name = "clone", mixinStandardHelpOptions = true,
        description = "Create a writable clone NAME of a volume, snapshot or clone, in constant time.")
final class CloneCommand implements Callable<Integer> {
    @Mixin CommonOptions common;
    @Parameters(index = "0", paramLabel = "SOURCE") String source;
    @Parameters(index = "1", paramLabel = "NAME") String name;

    @Override
    public Integer call() throws Exception {
        try (PoolService service = common.service()) {
            common.printer().volume(service.cloneVolume(source, name));
        }
        return 0;
    }
}

package dev.volumes.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes volume create|list|info|resize|delete|export|import}. */
@Command(name = "volume", description = "Create, list, inspect, resize, delete, export and import volumes.", mixinStandardHelpOptions = true,
        subcommands = {VolumeCommand.Create.class, VolumeCommand.ListVolumes.class, VolumeCommand.Info.class,
            VolumeCommand.Resize.class, VolumeCommand.Delete.class, ExportCommand.class, ImportCommand.class})
final class VolumeCommand {

    @Command(name = "create", description = "Create a thin volume (reads as zeros, takes no space until written).",
            mixinStandardHelpOptions = true)
    static final class Create implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME", description = "Volume name.") String name;
        @Parameters(index = "1", paramLabel = "SIZE", description = "Logical size, e.g. 10G, 512M, 10GiB.") String size;

        @Override
        public Integer call() throws Exception {
            long bytes = Sizes.parse(size);
            try (PoolService service = common.service()) {
                common.printer().volume(service.createVolume(name, bytes));
            }
            return 0;
        }
    }

    @Command(name = "list", description = "List volumes, snapshots and clones.", mixinStandardHelpOptions = true)
    static final class ListVolumes implements Callable<Integer> {
        @Mixin CommonOptions common;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                common.printer().volumes(service.list());
            }
            return 0;
        }
    }

    @Command(name = "info", description = "Show one volume, snapshot or clone.", mixinStandardHelpOptions = true)
    static final class Info implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                common.printer().volume(service.info(name));
            }
            return 0;
        }
    }

    @Command(name = "resize", mixinStandardHelpOptions = true,
            description = {"Resize a volume or clone online. Growing reads zeros; shrinking drops the tail.",
                "On a running daemon, new NBD connections see the new size at once."})
    static final class Resize implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "SIZE", description = "New logical size, e.g. 20G.") String size;

        @Override
        public Integer call() throws Exception {
            long bytes = Sizes.parse(size);
            try (PoolService service = common.service()) {
                common.printer().volume(service.resize(name, bytes));
            }
            return 0;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = {"Delete a volume, snapshot or clone. Snapshots and clones of it keep working.",
                "On a running daemon its export is removed first (connections drain and close)."})
    static final class Delete implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                VolumeView deleted = service.delete(name, false);
                Printer printer = common.printer();
                if (printer.json()) {
                    printer.json(deleted);
                } else {
                    System.out.printf("deleted %s %s (%s)%n", deleted.kind(), deleted.name(), Sizes.format(deleted.size()));
                }
            }
            return 0;
        }
    }
}

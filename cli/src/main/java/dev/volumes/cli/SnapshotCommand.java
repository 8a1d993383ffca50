package dev.volumes.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes snapshot create|list|delete}. */
@Command(name = "snapshot", description = "Take, list and delete immutable snapshots.", mixinStandardHelpOptions = true,
        subcommands = {SnapshotCommand.Create.class, SnapshotCommand.ListSnapshots.class, SnapshotCommand.Delete.class})
final class SnapshotCommand {

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Snapshot VOLUME as NAME in constant time. On a served volume, writes in flight are drained first.")
    static final class Create implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "VOLUME") String volume;
        @Parameters(index = "1", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                common.printer().volume(service.snapshot(volume, name));
            }
            return 0;
        }
    }

    @Command(name = "list", description = "List snapshots, optionally only those of VOLUME.", mixinStandardHelpOptions = true)
    static final class ListSnapshots implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "VOLUME", arity = "0..1") String volume;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                if (volume != null) {
                    service.info(volume);
                }
                List<VolumeView> snapshots = service.list().stream()
                        .filter(v -> v.kind().equals("snapshot"))
                        .filter(v -> volume == null || volume.equals(v.origin()))
                        .toList();
                common.printer().volumes(snapshots);
            }
            return 0;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = "Delete snapshot NAME (refuses volumes and clones). Clones made from it keep working.")
    static final class Delete implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                VolumeView deleted = service.delete(name, true);
                Printer printer = common.printer();
                if (printer.json()) {
                    printer.json(deleted);
                } else {
                    System.out.printf("deleted snapshot %s (of %s)%n", deleted.name(), deleted.origin());
                }
            }
            return 0;
        }
    }
}

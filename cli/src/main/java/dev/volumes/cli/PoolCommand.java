package dev.volumes.cli;

import dev.volumes.pool.Pool;
import dev.volumes.pool.PoolOptions;
import dev.volumes.device.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code volumes pool create|info|check|repair|grow}. */
@Command(name = "pool", description = "Create, inspect, check, repair and grow the pool.", mixinStandardHelpOptions = true,
        subcommands = {PoolCommand.Create.class, PoolCommand.Info.class, PoolCommand.Check.class, PoolCommand.Repair.class,
            PoolCommand.Grow.class})
final class PoolCommand {

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Create the pool file DIR/default.pool (sparse: it takes disk space only as data is written).")
    static final class Create implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Option(names = "--size", paramLabel = "SIZE",
                description = "Pool capacity (default 64G; on an nbd:// backing the whole export).") String size;
        @Option(names = "--block-size", paramLabel = "SIZE",
                description = "Block size, a power of two from 4K to 1M (default: the pool's default).") String blockSize;
        @Option(names = "--label", paramLabel = "TEXT", defaultValue = "default", description = "Pool label.") String label;
        @Option(names = "--backing", paramLabel = "URI",
                description = {"Where the pool lives: a file path, s3://BUCKET/PREFIX (credentials, region and endpoint from "
                    + "the AWS environment and ~/.aws files), nbd://HOST[:PORT]/EXPORT (any NBD server; also nbds://, "
                    + "nbd+unix://), or oci://REGISTRY/REPO:TAG (a frozen pool, opened read-only).",
                    "Default: DIR/default.pool. Recorded in DIR/pool.json for later commands."}) String backing;
        @Option(names = "--s3-endpoint", paramLabel = "URL",
                description = "S3 endpoint override for an s3:// backing (MinIO, s3proxy, ...); default from the AWS environment.")
        String s3Endpoint;

        @Override
        public Integer call() throws Exception {
            boolean nbd = backing != null && PoolBacking.isNbd(backing);
            long bytes = size != null ? Sizes.parse(size) : nbd ? Long.MAX_VALUE : 64L << 30;
            PoolOptions.Builder options = PoolOptions.builder().label(label);
            if (blockSize != null) {
                options.blockSize(Math.toIntExact(Sizes.parse(blockSize)));
            }
            DataDir dir = common.dir();
            if (LocalPoolService.exists(dir)) {
                throw new CliException(ExitCode.EXISTS, "a pool already exists at " + LocalPoolService.where(dir)
                        + " (data directory " + dir.root() + ")");
            }
            Files.createDirectories(dir.root());
            if (backing == null) {
                try (LocalPoolService service = new LocalPoolService(dir.pool().toString(),
                        Pool.create(dir.pool(), bytes, options.build()))) {
                    common.printer().pool(service.poolInfo());
                }
                return 0;
            }
            PoolBacking where = new PoolBacking(backing, s3Endpoint);
            Pool pool;
            if (where.readOnly()) {
                pool = Pool.open(where.open()); // an image of a pool: verify it opens, then record it
            } else {
                Device device = where.create(bytes);
                try {
                    pool = Pool.create(device, options.build());
                } catch (IOException | RuntimeException e) {
                    device.close();
                    throw e;
                }
            }
            try (LocalPoolService service = new LocalPoolService(where.uri(), pool)) {
                where.record(dir);
                common.printer().pool(service.poolInfo());
            }
            return 0;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Walk every volume, node and block: checksums, pointers, reference counts, leaks. Exit 8 if anything is wrong.")
    static final class Check implements Callable<Integer> {
        @Mixin CommonOptions common;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                CheckView report = service.check();
                Printer printer = common.printer();
                if (printer.json()) {
                    printer.json(report);
                } else {
                    System.out.printf("checked generation %d: %d volumes, %d metadata blocks, %d data blocks: %s%n",
                            report.generation(), report.volumes(), report.metadataBlocks(), report.dataBlocks(),
                            report.clean() ? "clean" : report.problems().size() + " problem(s)");
                    report.problems().forEach(p -> System.out.println("  " + p));
                }
                return report.clean() ? 0 : ExitCode.CHECK_FAILED.code;
            }
        }
    }

    @Command(name = "info", description = "Show the pool's identity and space.", mixinStandardHelpOptions = true)
    static final class Info implements Callable<Integer> {
        @Mixin CommonOptions common;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                common.printer().pool(service.poolInfo());
            }
            return 0;
        }
    }

    @Command(name = "repair", mixinStandardHelpOptions = true,
            description = {"Fix what `pool check` finds and can fix safely: leaked blocks, wrong reference counts, damaged "
                + "metadata copies, stale superblocks. Refuses (with the reason) what it cannot fix without guessing.",
                "Exit 0 if the pool checks clean afterwards, else 8."})
    static final class Repair implements Callable<Integer> {
        @Mixin CommonOptions common;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                LifecycleViews.Repair report = service.repair();
                Printer printer = common.printer();
                if (printer.json()) {
                    printer.json(report);
                } else {
                    System.out.printf("found %d problem(s); fixed %d, refused %d: %s%n", report.problemsBefore().size(),
                            report.fixed().size(), report.refused().size(),
                            report.clean() ? "clean now" : report.problemsAfter().size() + " problem(s) remain");
                    report.fixed().forEach(f -> System.out.println("  fixed: " + f));
                    report.refused().forEach(f -> System.out.println("  refused: " + f));
                    report.problemsAfter().forEach(f -> System.out.println("  remains: " + f));
                }
                return report.clean() ? 0 : ExitCode.CHECK_FAILED.code;
            }
        }
    }

    @Command(name = "grow", mixinStandardHelpOptions = true,
            description = {"Grow the pool: with --size, resize its backing (file or S3 device) to SIZE first; without, "
                + "take in whatever the backing has grown to. Shrinking is not supported."})
    static final class Grow implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Option(names = "--size", paramLabel = "SIZE", description = "New size of the pool's backing, e.g. 128G.") String size;

        @Override
        public Integer call() throws Exception {
            Long bytes = size == null ? null : Sizes.parse(size);
            try (PoolService service = common.service()) {
                common.printer().pool(service.grow(bytes));
            }
            return 0;
        }
    }
}

package dev.volumes.cli;

import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.oci.FreezeResult;
import dev.volumes.oci.ImageRef;
import dev.volumes.oci.OciImages;
import dev.volumes.oci.RegistryClient;
import dev.volumes.oci.Retention;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code volumes oci freeze|freeze-pool|pull|attach|commit|detach|tags|retain}: volumes as OCI
 * artifacts (format in docs/oci.md). Images are {@code [oci://]HOST[:PORT]/REPO:TAG}; registry
 * credentials come from {@code ~/.docker/config.json}.
 */
@Command(name = "oci", mixinStandardHelpOptions = true,
        description = "Freeze volumes into OCI registries, pull images into the pool, attach them as writable exports, commit, list and prune tags.",
        subcommands = {OciCommand.Freeze.class, OciCommand.FreezePool.class, OciCommand.Pull.class, OciCommand.Attach.class,
            OciCommand.Commit.class, OciCommand.Detach.class, OciCommand.Tags.class, OciCommand.Retain.class})
final class OciCommand {

    static final String IMAGE_HELP = "[oci://]HOST[:PORT]/REPOSITORY:TAG (plain HTTP for a loopback registry, else HTTPS)";

    @Command(name = "freeze", mixinStandardHelpOptions = true,
            description = {"Push volume, snapshot or clone NAME as an immutable image (only data chunks are read and sent; "
                + "blobs the registry has are skipped).",
                "On a running daemon a volume or clone is snapshotted first (NAME@oci-TIME), so the image is one consistent point."})
    static final class Freeze implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "IMAGE", description = IMAGE_HELP) String image;

        @Override
        public Integer call() throws Exception {
            OciAddress.parse(image).ref();
            ProgressBar bar = ProgressBar.forCommand("freeze " + name, common.json);
            try (PoolService service = common.service()) {
                OciView view = service.freeze(name, image, bar);
                bar.finish("pushed " + view.image() + "@" + view.digest());
                common.printer().oci(view);
            }
            return 0;
        }
    }

    @Command(name = "freeze-pool", mixinStandardHelpOptions = true,
            description = {"Push the whole pool file (every volume and snapshot) as one image, to open elsewhere "
                + "read-only with `volumes pool create --backing oci://...`.",
                "The pool must not be in use: stop the daemon first."})
    static final class FreezePool implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "IMAGE", description = IMAGE_HELP) String image;

        @Override
        public Integer call() throws Exception {
            OciAddress target = OciAddress.parse(image);
            ImageRef ref = target.ref();
            DataDir dir = common.dir();
            if (java.nio.file.Files.exists(dir.root().resolve(PoolBacking.FILE))) {
                throw new CliException(ExitCode.USAGE, "freeze-pool works on the default pool file, and "
                        + dir.root() + " uses " + LocalPoolService.where(dir));
            }
            ControlClient.connect(dir.controlSocket()).ifPresent(c -> {
                throw new CliException(ExitCode.IN_USE, "a daemon serves " + dir.root() + "; stop it before freezing the whole pool");
            });
            if (!java.nio.file.Files.exists(dir.pool())) {
                throw new CliException(ExitCode.NOT_FOUND, "no pool at " + dir.pool());
            }
            ProgressBar bar = ProgressBar.forCommand("freeze-pool", common.json);
            try (Device device = FileDevice.openReadOnly(dir.pool())) {
                FreezeResult result = OciImages.freeze(device, target.client(), ref,
                        LocalPoolService.freezeOptions("pool", bar));
                OciView view = OciView.of(target, dir.pool().toString(), result);
                bar.finish("pushed " + view.image() + "@" + view.digest());
                common.printer().oci(view);
            }
            return 0;
        }
    }

    @Command(name = "pull", mixinStandardHelpOptions = true,
            description = {"Copy IMAGE into the pool as the new volume NAME (only data chunks are downloaded; a failed pull "
                + "leaves no volume). On a running daemon it is exported when complete."})
    static final class Pull implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "IMAGE", description = IMAGE_HELP) String image;
        @Parameters(index = "1", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            OciAddress.parse(image).ref();
            ProgressBar bar = ProgressBar.forCommand("pull " + name, common.json);
            try (PoolService service = common.service()) {
                VolumeView v = service.pull(image, name, bar);
                bar.finish("pulled " + image + " as " + v.name());
                common.printer().volume(v);
            }
            return 0;
        }
    }

    @Command(name = "attach", aliases = "run", mixinStandardHelpOptions = true,
            description = {"Export IMAGE as NAME on the running daemon: read lazily from the registry, written through a "
                + "local overlay (DIR/overlays/NAME, resumed when the daemon restarts)."})
    static final class Attach implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "IMAGE", description = IMAGE_HELP) String image;
        @Parameters(index = "1", paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            OciAddress.parse(image).ref();
            try (PoolService service = common.service()) {
                common.printer().volume(service.attach(image, name));
            }
            return 0;
        }
    }

    @Command(name = "commit", mixinStandardHelpOptions = true,
            description = "Push the changed chunks of attached image NAME as IMAGE and continue on top of it.")
    static final class Commit implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "IMAGE", description = IMAGE_HELP) String image;

        @Override
        public Integer call() throws Exception {
            OciAddress.parse(image).ref();
            ProgressBar bar = ProgressBar.forCommand("commit " + name, common.json);
            try (PoolService service = common.service()) {
                OciView view = service.commit(name, image, bar);
                bar.finish("pushed " + view.image() + "@" + view.digest());
                common.printer().oci(view);
            }
            return 0;
        }
    }

    @Command(name = "detach", mixinStandardHelpOptions = true,
            description = "Stop exporting attached image NAME (its overlay is synced; uncommitted changes stay in DIR/overlays/NAME unless --discard).")
    static final class Detach implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--discard", description = "Also delete the overlay directory and its uncommitted changes.") boolean discard;

        @Override
        public Integer call() throws Exception {
            try (PoolService service = common.service()) {
                common.printer().volume(service.detach(name, discard));
            }
            return 0;
        }
    }

    /** One tag of a repository as {@code oci tags} prints it. */
    record TagView(String tag, String digest, String image) {}

    @Command(name = "tags", aliases = "list", mixinStandardHelpOptions = true, description = "List the tags of a repository and their digests.")
    static final class Tags implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "REPOSITORY", description = "[oci://]HOST[:PORT]/REPOSITORY") String repository;

        @Override
        public Integer call() throws Exception {
            OciAddress where = OciAddress.parse(repository);
            RegistryClient client = where.client();
            List<TagView> tags = new ArrayList<>();
            for (String tag : client.listTags(where.repository())) {
                ImageRef ref = new ImageRef(where.repository(), tag);
                String digest = client.headManifest(ref).map(d -> d.digest().value()).orElse("-");
                tags.add(new TagView(tag, digest, where.at(ref).toString()));
            }
            Printer printer = common.printer();
            if (printer.json()) {
                printer.json(tags);
            } else {
                List<String[]> rows = new ArrayList<>();
                rows.add(new String[] {"TAG", "DIGEST"});
                tags.forEach(t -> rows.add(new String[] {t.tag(), t.digest()}));
                printer.table(rows);
            }
            return 0;
        }
    }

    @Command(name = "retain", mixinStandardHelpOptions = true,
            description = {"Keep the tags matching --keep and delete the manifests only other tags point at "
                + "(the registry's garbage collector then reclaims unreferenced blobs)."})
    static final class Retain implements Callable<Integer> {
        @Mixin CommonOptions common;
        @Parameters(index = "0", paramLabel = "REPOSITORY", description = "[oci://]HOST[:PORT]/REPOSITORY") String repository;
        @Option(names = "--keep", paramLabel = "REGEX", required = true, description = "Tags to keep (a full-match regular expression).")
        String keep;
        @Option(names = "--dry-run", description = "Only report what would be deleted.") boolean dryRun;

        @Override
        public Integer call() throws Exception {
            OciAddress where = OciAddress.parse(repository);
            Pattern pattern;
            try {
                pattern = Pattern.compile(keep);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new IllegalArgumentException("bad --keep regular expression: " + e.getDescription());
            }
            Retention.Report report = Retention.apply(where.client(), where.repository(),
                    tag -> pattern.matcher(tag).matches(), dryRun);
            Map<String, Object> view = new LinkedHashMap<>();
            view.put("repository", where.toString());
            view.put("dryRun", dryRun);
            view.put("kept", report.kept());
            view.put("removed", report.removed());
            view.put("deletedManifests", report.deletedManifests().stream().map(d -> d.value()).toList());
            view.put("unreachableBlobs", report.unreachableBlobs().size());
            view.put("unreachableBytes", report.unreachableBytes());
            Printer printer = common.printer();
            if (printer.json()) {
                printer.json(view);
            } else {
                System.out.printf("%s %d tag(s) of %s: %s; kept %d: %s; %d blob(s), %s, now unreferenced%n",
                        dryRun ? "would remove" : "removed", report.removed().size(), where, report.removed(),
                        report.kept().size(), report.kept(), report.unreachableBlobs().size(),
                        Sizes.format(report.unreachableBytes()));
            }
            return 0;
        }
    }
}

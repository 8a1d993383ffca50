package dev.volumes.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code volumes diff OLDER NEWER}. */
@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"List the byte ranges that may differ between two volumes of one lineage (a snapshot and its "
            + "volume, two snapshots, a clone and its origin): block-aligned, sorted, merged.",
            "Shared map subtrees are skipped, so the cost follows what changed, not the size."})
final class DiffCommand implements Callable<Integer> {
    @Mixin CommonOptions common;
    @Parameters(index = "0", paramLabel = "OLDER") String older;
    @Parameters(index = "1", paramLabel = "NEWER") String newer;

    @Override
    public Integer call() throws Exception {
        try (PoolService service = common.service()) {
            LifecycleViews.Diff diff = service.diff(older, newer);
            Printer printer = common.printer();
            if (printer.json()) {
                printer.json(diff);
                return 0;
            }
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"OFFSET", "LENGTH", "END"});
            for (LifecycleViews.Range r : diff.ranges()) {
                rows.add(new String[] {Long.toString(r.offset()), Sizes.format(r.length()),
                        Long.toString(r.offset() + r.length())});
            }
            printer.table(rows);
            System.out.printf("%d range(s), %s changed between %s and %s%n", diff.ranges().size(),
                    Sizes.format(diff.changedBytes()), older, newer);
        }
        return 0;
    }
}

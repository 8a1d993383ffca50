package dev.volumes.ha;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Migration from the per-term layout of older versions, where {@link ReplicatedOpener} kept each
 * term's writer state in {@code <stateDir>/term-<t>}: those directories are deleted. Nothing in
 * them is worth carrying over: under that layout every open started without writer state (a
 * fresh directory per term), and the engine never reads them, so removing them changes no open's
 * outcome; it only stops them from lingering. Anything else in the directory is left alone. A
 * directory that cannot be deleted is logged and tried again at the next open. Not thread-safe
 * (opens of one node are serialized by its {@link TermEngine}).
 */
final class LegacyTermStates {

    private static final System.Logger LOG = System.getLogger(LegacyTermStates.class.getName());
    private static final Pattern NAME = Pattern.compile("term-[1-9][0-9]{0,18}");

    private LegacyTermStates() {}

    /** Deletes every {@code term-<t>} directory directly under {@code stateDir}; returns how many. */
    static int remove(Path stateDir) {
        if (!Files.isDirectory(stateDir)) {
            return 0;
        }
        int removed = 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(stateDir)) {
            for (Path p : entries) {
                if (!NAME.matcher(p.getFileName().toString()).matches()
                        || !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try {
                    deleteTree(p);
                    removed++;
                    LOG.log(Level.INFO, "removed the per-term writer state of an older version: {0}", p);
                } catch (IOException e) {
                    LOG.log(Level.WARNING, "removing the old per-term writer state {0} failed: {1}", p, e.toString());
                }
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "listing {0} for old per-term writer states failed: {1}", stateDir, e.toString());
        }
        return removed;
    }

    private static void deleteTree(Path dir) throws IOException {
        List<Path> all;
        try (var walk = Files.walk(dir)) {
            all = walk.sorted(Comparator.reverseOrder()).toList();
        }
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }
}

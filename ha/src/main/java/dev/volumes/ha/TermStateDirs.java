package dev.volumes.ha;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The per-term writer state directories of one node's volume: {@code <base>/term-<t>}. Old ones
 * are pruned so they do not accumulate: before term t opens, every {@code term-<u>} with u &lt; t
 * except the newest {@code keep - 1} is deleted (with the one t creates, {@code keep} remain).
 * Anything else in the base directory, and terms newer than t, are left alone. A directory that
 * cannot be deleted is logged and retried at the next open. Not thread-safe (opens of one node
 * are serialized by its {@link TermEngine}).
 */
final class TermStateDirs {

    private static final System.Logger LOG = System.getLogger(TermStateDirs.class.getName());
    private static final Pattern NAME = Pattern.compile("term-([1-9][0-9]{0,18})");

    private final Path base;
    private final int keep;

    TermStateDirs(Path base, int keep) {
        if (base == null || keep < 1) {
            throw new IllegalArgumentException("term state dirs need a base directory and keep >= 1");
        }
        this.base = base;
        this.keep = keep;
    }

    Path forTerm(long term) {
        return base.resolve("term-" + term);
    }

    /** The terms that have a directory here, ascending. */
    List<Long> terms() throws IOException {
        List<Long> out = new ArrayList<>();
        if (!Files.isDirectory(base)) {
            return out;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(base)) {
            for (Path p : dirs) {
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches() && Files.isDirectory(p)) {
                    try {
                        out.add(Long.parseLong(m.group(1)));
                    } catch (NumberFormatException e) {
                        // not one of ours
                    }
                }
            }
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    /** Deletes the directories of terms older than {@code opening} except the newest {@code keep - 1}. */
    void prune(long opening) {
        List<Long> older;
        try {
            older = new ArrayList<>(terms().stream().filter(t -> t < opening).toList());
        } catch (IOException e) {
            LOG.log(Level.WARNING, "listing term states in {0} failed: {1}", base, e.toString());
            return;
        }
        int drop = older.size() - (keep - 1);
        for (int i = 0; i < drop; i++) {
            Path dir = forTerm(older.get(i));
            try {
                deleteTree(dir);
                LOG.log(Level.DEBUG, "deleted the writer state of term {0}: {1}", older.get(i), dir);
            } catch (IOException e) {
                LOG.log(Level.WARNING, "deleting the old writer state {0} failed: {1}", dir, e.toString());
            }
        }
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

package dev.volumes.cli;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;

/** Closing the parts of a long-running command in order, every part even when one fails. */
final class Shutdown {

    private Shutdown() {}

    /**
     * Closes each of {@code parts} in order; throws the first failure afterwards, later ones
     * suppressed in it.
     */
    static void closeInOrder(List<? extends Closeable> parts) throws IOException {
        IOException failure = null;
        for (Closeable c : parts) {
            try {
                c.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}

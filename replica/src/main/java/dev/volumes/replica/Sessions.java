package dev.volumes.replica;

import dev.volumes.device.Device;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;

/**
 * Abandoning a connector replica's session (docs/replication.md §1 "Abandoned sessions"): when the
 * engine drops a replica out, replaces it, or gives it a fresh session for a rebuild, the old
 * session device must stop at once. An NBD session ({@link FencedSessionDevice}) is aborted: no
 * reconnect, no replay of its client's journal, no re-sent request, and every request still
 * waiting fails locally — otherwise its client reconnects on its own after the newer claim cut it,
 * re-claims with the same term and writer and replays acknowledged writes onto a replica that a
 * rebuild already copied, or that was replaced. A local session is closed (its requests are
 * refused at once). The close that releases the device runs in the background.
 */
final class Sessions {

    private Sessions() {}

    /**
     * Stops {@code d}, a session device a {@link ReplicaConnector} returned, and closes it in the
     * background on {@code closer} (inline if that is shut down). Never blocks on the replica.
     */
    static void abandon(Device d, String why, ExecutorService closer) {
        if (d instanceof FencedSessionDevice f) {
            f.abandon(why);
        } else if (d instanceof TermFence.Session s) {
            s.close();
        }
        try {
            closer.submit(() -> Engine.closeQuietly(d));
        } catch (RejectedExecutionException e) {
            Engine.closeQuietly(d);
        }
    }
}

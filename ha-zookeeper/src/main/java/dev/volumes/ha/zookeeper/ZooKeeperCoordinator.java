package dev.volumes.ha.zookeeper;

import dev.volumes.ha.Coordinator;
import dev.volumes.ha.CoordinatorEvent;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/**
 * The {@link Coordinator} on ZooKeeper, through Curator. Built by {@link ZooKeeperCoordination}.
 *
 * <h2>Recipe</h2>
 * Under the group path {@code G}: candidates are EPHEMERAL_SEQUENTIAL nodes {@code
 * G/candidates/n-…} (created with Curator's protection, so a create whose reply was lost is found
 * again) whose data is the node id; the lowest sequence leads. A candidate that is not lowest
 * watches its predecessor only (no herd). The new leader claims its term with one ZooKeeper
 * transaction: {@code check} that its candidate node still exists and {@code setData(G/term,
 * old+1)} at the version it read. The transaction fails if the node has gone (the session
 * expired) or if another writer moved the counter, so a term is handed out once, to a live
 * leader, and every term is greater than every earlier one (see docs/ha.md for why a counter and
 * not the czxid).
 *
 * <h2>Lease loss</h2>
 * Curator's SUSPENDED (the client has heard nothing for two thirds of the session timeout, or the
 * connection broke), LOST (session expired) and the deletion of the leader's own candidate node
 * all end the lease at once, in the thread that noticed, before anything else: ZooKeeper expires
 * the session only after the full session timeout, so the loss is reported before another node
 * can be elected. After a loss the node is no longer a candidate; {@link #campaign()} removes any
 * candidate node it still has and enters again at the back of the queue.
 *
 * <h2>Threading</h2>
 * ZooKeeper work (campaign, re-check on watch events) runs on one executor thread; the lease term
 * and event delivery are guarded by {@code deliveryLock}, so an {@code Elected(t)} is never
 * delivered after the loss of t, and losses are delivered from whichever thread noticed them.
 */
final class ZooKeeperCoordinator implements Coordinator {

    private static final System.Logger LOG = System.getLogger(ZooKeeperCoordinator.class.getName());
    private static final String PREFIX = "n-";

    private final CuratorFramework client;
    private final boolean ownsClient;
    private final String nodeId;
    private final String candidatesPath;
    private final String termPath;
    private final List<Consumer<CoordinatorEvent>> listeners = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService work;
    private final Object deliveryLock = new Object();

    private long leaseTerm; // guarded by deliveryLock; 0 = none
    private volatile boolean candidate; // wants to be in the election
    private volatile String ownNode; // full path of our candidate node, or null
    private volatile boolean closed;
    private long generation; // guarded by deliveryLock; bumps on every loss, stale checks are ignored

    ZooKeeperCoordinator(CuratorFramework client, boolean ownsClient, String nodeId, String groupPath) {
        this.client = client;
        this.ownsClient = ownsClient;
        this.nodeId = nodeId;
        this.candidatesPath = groupPath + "/candidates";
        this.termPath = groupPath + "/term";
        this.work = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "zk-coordinator-" + nodeId);
            t.setDaemon(true);
            return t;
        });
        client.getConnectionStateListenable().addListener((c, state) -> onConnectionState(state));
    }

    @Override
    public String nodeId() {
        return nodeId;
    }

    /** The Curator client (tests kill its session). */
    CuratorFramework client() {
        return client;
    }

    @Override
    public void campaign() throws IOException {
        if (closed) {
            throw new IllegalStateException("coordinator of " + nodeId + " is closed");
        }
        if (candidate) {
            return;
        }
        candidate = true;
        Future<?> done = work.submit(() -> {
            enter();
            return null;
        });
        try {
            done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            candidate = false;
            throw new IOException("campaign of " + nodeId + " interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            candidate = false;
            throw new IOException("campaign of " + nodeId + " under " + candidatesPath + " failed: " + e.getCause(),
                    e.getCause());
        }
    }

    /** On the work thread: drop any old candidate node, create a fresh one, check leadership. */
    private void enter() throws Exception {
        removeOwnNodes();
        byte[] data = nodeId.getBytes(StandardCharsets.UTF_8);
        String path = client.create().creatingParentContainersIfNeeded().withProtection()
                .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(candidatesPath + "/" + PREFIX, data);
        ownNode = path;
        LOG.log(Level.DEBUG, "node {0}: candidate {1}", nodeId, path);
        // Watch our own node too: if it vanishes while we are a mere candidate (the session that
        // owned it expired after we had moved to a new one), we enter again (onWatch).
        if (client.checkExists().usingWatcher((Watcher) this::onWatch).forPath(path) == null) {
            submitReenter(0);
            return;
        }
        check();
    }

    private void removeOwnNodes() throws Exception {
        ownNode = null; // first: deleting it must not look like losing it (onWatch)
        List<String> children;
        try {
            children = client.getChildren().forPath(candidatesPath);
        } catch (KeeperException.NoNodeException e) {
            return;
        }
        for (String child : children) {
            String path = candidatesPath + "/" + child;
            try {
                byte[] data = client.getData().forPath(path);
                if (nodeId.equals(new String(data, StandardCharsets.UTF_8))) {
                    client.delete().guaranteed().forPath(path);
                }
            } catch (KeeperException.NoNodeException ignored) {
                // gone meanwhile
            }
        }
    }

    /** On the work thread: lead if our node is lowest, else watch the predecessor. */
    private void check() throws Exception {
        String own = ownNode;
        if (!candidate || own == null || closed) {
            return;
        }
        List<String> sorted = sortedCandidates();
        String ownName = own.substring(own.lastIndexOf('/') + 1);
        int index = sorted.indexOf(ownName);
        if (index < 0) {
            // our node vanished (its session expired): enter again, unless the connection
            // listener's re-entry is already under way (it replaces ownNode)
            LOG.log(Level.INFO, "node {0}: candidate node {1} is gone; entering the election again", nodeId, own);
            submitReenter(500);
            return;
        }
        if (index == 0) {
            claimTerm(own);
            return;
        }
        String predecessor = candidatesPath + "/" + sorted.get(index - 1);
        Stat stat = client.checkExists().usingWatcher((Watcher) this::onWatch).forPath(predecessor);
        if (stat == null) {
            check(); // predecessor went away between list and watch
        }
    }

    private void onWatch(WatchedEvent event) {
        if (event.getType() == Watcher.Event.EventType.NodeDeleted) {
            String own = ownNode;
            if (own != null && own.equals(event.getPath())) {
                loseLease("own candidate node " + own + " was deleted");
                submitReenter(0); // a mere candidate enters again; a deposed leader is no candidate
                return;
            }
            submitCheck();
        }
    }

    private void submitCheck() {
        if (closed) {
            return;
        }
        work.submit(() -> {
            try {
                check();
            } catch (Exception e) {
                LOG.log(Level.WARNING, "node {0}: election check failed: {1}", nodeId, e.toString());
            }
        });
    }

    private List<String> sortedCandidates() throws Exception {
        List<String> children = new ArrayList<>(client.getChildren().forPath(candidatesPath));
        children.sort(Comparator.comparing(ZooKeeperCoordinator::sequence));
        return children;
    }

    private static String sequence(String name) {
        return name.length() >= 10 ? name.substring(name.length() - 10) : name;
    }

    /** On the work thread, as the lowest candidate: take the next term with one transaction. */
    private void claimTerm(String own) throws Exception {
        long gen;
        synchronized (deliveryLock) {
            if (leaseTerm != 0) {
                return; // already leading
            }
            gen = generation;
        }
        // Watch our own node so that its deletion ends the lease.
        if (client.checkExists().usingWatcher((Watcher) this::onWatch).forPath(own) == null) {
            return;
        }
        while (true) {
            Stat stat = new Stat();
            long current;
            try {
                byte[] bytes = client.getData().storingStatIn(stat).forPath(termPath);
                current = Long.parseLong(new String(bytes, StandardCharsets.US_ASCII).trim());
            } catch (KeeperException.NoNodeException e) {
                try {
                    client.create().creatingParentContainersIfNeeded().forPath(termPath,
                            "0".getBytes(StandardCharsets.US_ASCII));
                } catch (KeeperException.NodeExistsException raced) {
                    // someone else created it; read again
                }
                continue;
            }
            long next = current + 1;
            CuratorOp checkOwn = client.transactionOp().check().forPath(own);
            CuratorOp bump = client.transactionOp().setData().withVersion(stat.getVersion())
                    .forPath(termPath, Long.toString(next).getBytes(StandardCharsets.US_ASCII));
            try {
                client.transaction().forOperations(checkOwn, bump);
            } catch (KeeperException.BadVersionException e) {
                continue; // the counter moved under us; read again
            } catch (KeeperException.NoNodeException e) {
                return; // our node is gone: not leader
            }
            synchronized (deliveryLock) {
                if (generation != gen || !candidate || closed) {
                    return; // lost while claiming; the term is burnt, which is harmless
                }
                leaseTerm = next;
                LOG.log(Level.INFO, "node {0}: elected, term {1}", nodeId, next);
                deliver(new CoordinatorEvent.Elected(next));
            }
            return;
        }
    }

    private void onConnectionState(ConnectionState state) {
        LOG.log(Level.INFO, "node {0}: ZooKeeper connection {1}", nodeId, state);
        switch (state) {
            case SUSPENDED, LOST -> loseLease("ZooKeeper connection " + state);
            case RECONNECTED -> submitReenter(0);
            default -> {}
        }
    }

    /**
     * After a reconnection a candidate keeps its place if its node survived (the session did) and
     * re-checks, which re-arms the predecessor watch; otherwise it enters again. Failures are
     * retried every 500 ms while it is a candidate: a candidate never silently drops out.
     */
    private void submitReenter(long delayMillis) {
        if (!candidate || closed) {
            return;
        }
        try {
            work.schedule(() -> {
                if (!candidate || closed) {
                    return;
                }
                try {
                    String own = ownNode;
                    Stat stat = own == null ? null : client.checkExists().forPath(own);
                    // A node of an older session (Curator reports LOST and opens a new session
                    // while the server, e.g. after a restart, still keeps the old one for a
                    // while) is not ours to keep: it vanishes when that session expires.
                    if (stat == null || stat.getEphemeralOwner() != sessionId()) {
                        enter();
                    } else {
                        check();
                    }
                } catch (Exception e) {
                    LOG.log(Level.WARNING, "node {0}: re-entering the election failed, retrying: {1}", nodeId,
                            e.toString());
                    submitReenter(500);
                }
            }, delayMillis, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException shutDown) {
            // closed meanwhile
        }
    }

    private long sessionId() throws Exception {
        return client.getZookeeperClient().getZooKeeper().getSessionId();
    }

    /** Ends the lease (if held) and the candidacy of the leader; delivered at once. */
    private void loseLease(String reason) {
        synchronized (deliveryLock) {
            generation++;
            if (leaseTerm == 0) {
                return; // a mere candidate keeps its place; RECONNECTED re-enters it
            }
            long lost = leaseTerm;
            leaseTerm = 0;
            candidate = false;
            LOG.log(Level.WARNING, "node {0}: lease of term {1} lost: {2}", nodeId, lost, reason);
            deliver(new CoordinatorEvent.LeaseLost(lost, reason));
        }
        // Leave the queue if the session survived; best effort, campaign() cleans up too.
        if (!closed) {
            work.submit(() -> {
                try {
                    if (!candidate) {
                        removeOwnNodes();
                    }
                } catch (Exception e) {
                    LOG.log(Level.DEBUG, "node {0}: removing own candidate node failed: {1}", nodeId, e.toString());
                }
            });
        }
    }

    /** Called with deliveryLock held. */
    private void deliver(CoordinatorEvent event) {
        for (Consumer<CoordinatorEvent> listener : listeners) {
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "coordinator listener failed on " + event, e);
            }
        }
    }

    @Override
    public void resign() throws IOException {
        candidate = false;
        loseLease("resigned");
        Future<?> done = work.submit(() -> {
            removeOwnNodes();
            return null;
        });
        try {
            done.get(client.getZookeeperClient().getConnectionTimeoutMs() * 2L, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("resign of " + nodeId + " interrupted", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("resign of " + nodeId + ": removing its candidate node failed (it goes when the"
                    + " session ends): " + e, e);
        }
    }

    @Override
    public Subscription observe(Consumer<CoordinatorEvent> listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener is null");
        }
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    @Override
    public OptionalLong leaseTerm() {
        synchronized (deliveryLock) {
            return leaseTerm == 0 ? OptionalLong.empty() : OptionalLong.of(leaseTerm);
        }
    }

    @Override
    public List<String> members() throws IOException {
        try {
            List<String> out = new ArrayList<>();
            for (String child : sortedCandidates()) {
                try {
                    out.add(new String(client.getData().forPath(candidatesPath + "/" + child), StandardCharsets.UTF_8));
                } catch (KeeperException.NoNodeException gone) {
                    // left meanwhile
                }
            }
            return out;
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        } catch (Exception e) {
            throw new IOException("listing candidates under " + candidatesPath + " failed: " + e, e);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            resign();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "node {0}: {1}", nodeId, e.getMessage());
        }
        closed = true;
        work.shutdownNow();
        if (ownsClient) {
            client.close();
        }
    }

    @Override
    public String toString() {
        return "ZooKeeperCoordinator[" + nodeId + " " + candidatesPath + "]";
    }
}

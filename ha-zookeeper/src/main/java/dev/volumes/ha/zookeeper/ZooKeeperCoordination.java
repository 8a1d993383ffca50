package dev.volumes.ha.zookeeper;

import dev.volumes.ha.Coordinator;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.curator.framework.AuthInfo;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.ACLProvider;
import org.apache.curator.retry.BoundedExponentialBackoffRetry;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;

/**
 * Builds {@link Coordinator}s that elect on ZooKeeper (see {@code ZooKeeperCoordinator} for the
 * recipe and docs/ha.md for the timing). One coordinator = one node in one group (one volume);
 * each owns its own ZooKeeper session, so one node's session loss never affects another's.
 *
 * <pre>{@code
 * Coordinator c = ZooKeeperCoordination.builder()
 *         .connectString("127.0.0.1:2181")
 *         .sessionTimeout(Duration.ofSeconds(6))
 *         .chroot("volumes")
 *         .digest("volumes", secret)
 *         .group("/vol0")
 *         .nodeId("node-a")
 *         .build();
 * }</pre>
 */
public final class ZooKeeperCoordination {

    private ZooKeeperCoordination() {}

    /** A builder with the defaults documented on its methods. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder of a ZooKeeper coordinator. Not thread-safe; {@link #build()} may be called again. */
    public static final class Builder {
        private String connectString;
        private Duration sessionTimeout = Duration.ofSeconds(6);
        private Duration connectionTimeout = Duration.ofSeconds(3);
        private String chroot;
        private String digestUser;
        private String digestPassword;
        private String group;
        private String nodeId;

        private Builder() {}

        /** ZooKeeper servers, {@code host:port[,host:port…]} (required). */
        public Builder connectString(String connectString) {
            if (connectString == null || connectString.isBlank()) {
                throw new IllegalArgumentException("connect string is blank");
            }
            this.connectString = connectString;
            return this;
        }

        /**
         * The session timeout asked for (default 6 s; the server clamps it to [2, 20] ticks). The
         * lease is lost after two thirds of it without contact; another node can be elected only
         * after all of it. Failover time grows with it.
         */
        public Builder sessionTimeout(Duration timeout) {
            this.sessionTimeout = positive(timeout, "session timeout");
            return this;
        }

        /** How long one operation waits for a connection before failing (default 3 s). */
        public Builder connectionTimeout(Duration timeout) {
            this.connectionTimeout = positive(timeout, "connection timeout");
            return this;
        }

        /** A path prefix all znodes live under (Curator namespace), e.g. {@code "volumes"}; none by default. */
        public Builder chroot(String chroot) {
            if (chroot == null || chroot.isBlank() || chroot.startsWith("/") || chroot.endsWith("/")) {
                throw new IllegalArgumentException("chroot must be a relative path without leading or trailing '/': "
                        + chroot);
            }
            this.chroot = chroot;
            return this;
        }

        /**
         * Authenticate with ZooKeeper's digest scheme and create every znode readable and writable by
         * this identity only (CREATOR_ALL_ACL).
         */
        public Builder digest(String user, String password) {
            if (user == null || user.isBlank() || user.contains(":") || password == null || password.isEmpty()) {
                throw new IllegalArgumentException("digest auth needs a user without ':' and a non-empty password");
            }
            this.digestUser = user;
            this.digestPassword = password;
            return this;
        }

        /** The group's path, one per replicated volume, e.g. {@code "/vol0"} (required). */
        public Builder group(String group) {
            if (group == null || !group.startsWith("/") || group.length() < 2 || group.endsWith("/")) {
                throw new IllegalArgumentException("group must be an absolute znode path like /vol0: " + group);
            }
            this.group = group;
            return this;
        }

        /** This node's id (required); unique in the group. */
        public Builder nodeId(String nodeId) {
            if (nodeId == null || nodeId.isBlank()) {
                throw new IllegalArgumentException("node id is blank");
            }
            this.nodeId = nodeId;
            return this;
        }

        /**
         * Starts a ZooKeeper session (in the background: operations wait for it up to the connection
         * timeout) and returns the coordinator owning it. Closing the coordinator closes the session.
         *
         * @throws IllegalStateException if the connect string, group or node id is missing
         */
        public Coordinator build() {
            if (connectString == null || group == null || nodeId == null) {
                throw new IllegalStateException("a ZooKeeper coordinator needs a connect string, a group and a node id");
            }
            CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs(millis(sessionTimeout))
                    .connectionTimeoutMs(millis(connectionTimeout))
                    .retryPolicy(new BoundedExponentialBackoffRetry(50, 1000, 3));
            if (chroot != null) {
                b.namespace(chroot);
            }
            if (digestUser != null) {
                byte[] auth = (digestUser + ":" + digestPassword).getBytes(StandardCharsets.UTF_8);
                b.authorization(List.of(new AuthInfo("digest", auth))).aclProvider(new CreatorOnly());
            }
            CuratorFramework client = b.build();
            client.start();
            return new ZooKeeperCoordinator(client, true, nodeId, group);
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + d);
            }
            return d;
        }

        private static int millis(Duration d) {
            return (int) Math.min(Integer.MAX_VALUE, d.toMillis());
        }
    }

    private static final class CreatorOnly implements ACLProvider {
        @Override
        public List<ACL> getDefaultAcl() {
            return ZooDefs.Ids.CREATOR_ALL_ACL;
        }

        @Override
        public List<ACL> getAclForPath(String path) {
            return ZooDefs.Ids.CREATOR_ALL_ACL;
        }
    }
}

package dev.volumes.ha;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaServer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Term-fenced replicas for the glue's tests, in this process: each replica is a memory volume
 * exported by its own {@link ReplicaServer} and claimed through {@link
 * ReplicaServer#localConnector} (the same fence NBD clients go through). {@link #links} gives a
 * node its own connectors whose link to a replica a test can break (a network partition between
 * that node and that replica: connects and every request of its sessions fail).
 */
final class ReplicaSet implements AutoCloseable {

    /** Every replica keeps its header in its last 64 KiB (docs/replication.md). */
    static final long HEADER_AREA = 64 << 10;
    static final String EXPORT = "vol";

    final long dataSize;
    final List<MemoryDevice> disks = new ArrayList<>();
    final List<ReplicaServer> servers = new ArrayList<>();

    ReplicaSet(int replicas, long dataSize, Path dir) throws IOException {
        this.dataSize = dataSize;
        for (int i = 0; i < replicas; i++) {
            MemoryDevice disk = MemoryDevice.create("r" + i, dataSize + HEADER_AREA);
            disks.add(disk);
            servers.add(ReplicaServer.builder().export(EXPORT, disk)
                    .stateDir(Files.createDirectories(dir.resolve("replica-" + i))).start());
        }
    }

    /** One node's links to the replicas. */
    final class Links {
        final Map<String, Boolean> broken = new ConcurrentHashMap<>();
        final Map<String, ReplicaConnector> connectors = new LinkedHashMap<>();

        Links() {
            for (int i = 0; i < servers.size(); i++) {
                String id = "r" + i;
                ReplicaConnector inner = servers.get(i).localConnector(EXPORT);
                connectors.put(id, new ReplicaConnector() {
                    @Override
                    public Device connect(long term, String writer) throws IOException {
                        check(id);
                        return new Link(id, inner.connect(term, writer));
                    }

                    @Override
                    public String describe() {
                        return "link:" + id;
                    }
                });
            }
        }

        void breakLink(String id) {
            broken.put(id, true);
        }

        void heal(String id) {
            broken.remove(id);
        }

        private void check(String id) throws IOException {
            if (broken.containsKey(id)) {
                throw new IOException("link to replica " + id + " is down (test partition)");
            }
        }

        /** A session whose requests fail while its link is broken. */
        private final class Link extends ForwardingDevice {
            private final String id;

            Link(String id, Device session) {
                super(session);
                this.id = id;
            }

            @Override
            public void read(ByteBuffer dst, long offset) throws IOException {
                check(id);
                super.read(dst, offset);
            }

            @Override
            public void write(ByteBuffer src, long offset) throws IOException {
                check(id);
                super.write(src, offset);
            }

            @Override
            public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
                check(id);
                super.write(src, offset, flag);
            }

            @Override
            public void sync() throws IOException {
                check(id);
                super.sync();
            }

            @Override
            public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
                check(id);
                super.writeZeroes(offset, length, mayUnmap);
            }
        }
    }

    /** A node's own links to every replica, all healthy. */
    Links links() {
        return new Links();
    }

    /** The term replica {@code i} has promised. */
    long promised(int i) {
        return servers.get(i).promisedTerm(EXPORT);
    }

    @Override
    public void close() throws IOException {
        for (ReplicaServer s : servers) {
            s.close();
        }
    }
}

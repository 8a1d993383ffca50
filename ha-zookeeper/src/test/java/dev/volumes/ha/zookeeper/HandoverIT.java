package dev.volumes.ha.zookeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.ha.WriteHistory;
import dev.volumes.replica.ReplicaConnector;
import dev.volumes.replica.ReplicaServer;
import dev.volumes.replica.ReplicaState;
import dev.volumes.replica.ReplicaStatus;
import dev.volumes.replica.ReplicatedDevice;
import dev.volumes.replica.Replication;
import dev.volumes.replica.ReplicationMode;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Handovers on the replication API over NBD, without ZooKeeper: the successor claims the replicas
 * one after the other (as {@code Replication.open()} does) while the deposed writer is still
 * writing — the race FailoverIT found (docs/ha.md §8).
 */
class HandoverIT {

    private static final long VOLUME = 256 << 10;
    private static final int BLOCKS = (int) (VOLUME / WriteHistory.BLOCK);
    /** Every replica keeps its header in its last 64 KiB (docs/replication.md). */
    private static final long HEADER_AREA = 64 << 10;

    @TempDir
    Path dir;

    private final List<ReplicaServer> servers = new ArrayList<>();
    private final List<ReplicaConnector> connectors = new ArrayList<>();

    @AfterEach
    void stop() throws IOException {
        for (ReplicaServer s : servers) {
            s.close();
        }
    }

    private ReplicatedDevice open(long term, String writer) throws IOException {
        Replication.Builder b = Replication.builder().name("vol0@" + writer).mode(ReplicationMode.QUORUM).term(term)
                .writer(writer).stateDir(dir.resolve(writer + "-" + term)).regionSize(64 << 10);
        for (int i = 0; i < connectors.size(); i++) {
            b.replica("r" + i, connectors.get(i));
        }
        return b.open();
    }

    /**
     * Many handovers in a row; in each the deposed writer writes flat out while its successor
     * claims r0 and r1. A write cut by those claims ("superseded by a newer claim" arrives as a
     * dropped connection, not as a fencing refusal) used to make the deposed engine drop r0 and
     * r1 out and publish a new generation to r2 alone, which nobody had claimed yet; the successor
     * then found r2 newest and r0, r1 stale — "1 of 3 replicas in sync, mode QUORUM needs 2" —
     * and so did every later writer (each failed open bumped r2 again). It failed within 10
     * handovers. The engine now never publishes a generation to fewer replicas than the mode
     * requires, asks the failed replicas whether a newer term claimed them, and a QUORUM open
     * catches stale replicas up from a freshest generation held by a minority (docs/ha.md §8).
     *
     * <p>Every write (the deposed writers' and each successor's first) is stamped and recorded in
     * a {@link WriteHistory}; the claim of a majority (r0, r1) is recorded when it completes. At
     * the end the history is checked against the volume (no acknowledged write lost, none of an
     * older term acknowledged after a newer claim) and every in-sync replica must hold exactly
     * what the last writer reads.
     */
    @Test
    void repeatedHandoversWithTheDeposedWriterWritingNeverWedgeTheSet() throws Exception {
        List<MemoryDevice> disks = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            MemoryDevice disk = MemoryDevice.create("r" + i, VOLUME + HEADER_AREA);
            disks.add(disk);
            ReplicaServer s = ReplicaServer.builder().export("vol0", disk)
                    .stateDir(Files.createDirectories(dir.resolve("replica-" + i))).start();
            servers.add(s);
            connectors.add(Connectors.to(s, "vol0"));
        }
        WriteHistory history = new WriteHistory();
        Random random = Seeds.random("HandoverIT");
        ReplicatedDevice current = open(1, "w1");
        history.claimed("w1", 1);
        int handovers = Seeds.scaled(10);
        for (long term = 2; term <= 1 + handovers; term++) {
            ReplicatedDevice deposed = current;
            long deposedTerm = term - 1;
            AtomicBoolean stop = new AtomicBoolean();
            java.util.concurrent.atomic.AtomicInteger ackedBeforeClaim = new java.util.concurrent.atomic.AtomicInteger();
            Random writes = new Random(random.nextLong());
            Thread writer = Thread.ofVirtual().start(() -> {
                while (!stop.get()) {
                    WriteHistory.Write w = history.begin("w" + deposedTerm, deposedTerm, writes.nextInt(BLOCKS));
                    try {
                        deposed.write(w.payload(), w.offset(), WriteFlag.FUA);
                        history.acked(w, deposedTerm);
                        ackedBeforeClaim.incrementAndGet();
                    } catch (IOException | RuntimeException e) {
                        history.failed(w, e);
                        return; // deposed
                    }
                }
            });
            // the deposed writer is writing flat out (at least one write through) when the claims come
            for (int i = 0; i < 2000 && ackedBeforeClaim.get() == 0 && writer.isAlive(); i++) {
                Thread.sleep(5);
            }
            assertThat(ackedBeforeClaim.get()).as("the deposed writer of term %d got a write through", deposedTerm)
                    .isPositive();
            Device r0 = connectors.get(0).connect(term, "w" + term);
            Device r1 = connectors.get(1).connect(term, "w" + term);
            history.claimed("w" + term + " (r0, r1)", term); // a majority promised the new term
            Thread.sleep(20);
            stop.set(true);
            writer.join();
            r0.close();
            r1.close();
            current = open(term, "w" + term);
            history.claimed("w" + term, term);
            WriteHistory.Write first = history.begin("w" + term, term, random.nextInt(BLOCKS));
            current.write(first.payload(), first.offset(), WriteFlag.FUA);
            history.acked(first, term);
            for (ReplicaStatus s : current.status()) {
                if (s.state() == ReplicaState.OUT_OF_SYNC) {
                    current.rebuild(s.id());
                }
            }
            deposed.close();
        }
        ByteBuffer content = ByteBuffer.allocate((int) VOLUME);
        current.read(content, 0);
        content.flip();
        assertThat(history.check(content, BLOCKS)).as("%s; %s", history,
                Seeds.reproduceWith("HandoverIT#repeatedHandoversWithTheDeposedWriterWritingNeverWedgeTheSet")).isEmpty();
        for (ReplicaStatus s : current.status()) {
            assertThat(s.state()).as("replica %s after the last rebuild", s.id()).isEqualTo(ReplicaState.IN_SYNC);
            ByteBuffer raw = ByteBuffer.allocate((int) VOLUME);
            disks.get(Integer.parseInt(s.id().substring(1))).read(raw, 0);
            assertThat(raw.flip()).as("replica %s", s.id()).isEqualTo(content.rewind());
        }
        assertThat(history.ackedCount()).isGreaterThan(handovers); // the deposed writers got writes through
        System.out.println("HandoverIT: " + handovers + " handovers, " + history + ", refused by the term fence: "
                + history.failuresMentioning("fenced"));
        current.close();
    }
}

package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.CuttingProxy;
import dev.volumes.testkit.Seeds;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Concurrent FUA writers and readers on several connections while a proxy cuts every connection
 * at random moments (mid-request, mid-reply). Invariants: no call fails (every unanswered request
 * is resent), every read returns exactly the bytes its thread last wrote there (each thread owns
 * a region and keeps a model of it), and the device never fails stop (nothing was unflushed).
 */
class ReconnectStressTest {

    private static final int REGION = 256 * 1024;

    @Test
    void cutsAtRandomMomentsLoseNothingAndFailNothing() throws Exception {
        run("dev.volumes.nbd.ReconnectStressTest#cutsAtRandomMomentsLoseNothingAndFailNothing", true);
    }

    /**
     * The same with plain (unflushed) writes and occasional syncs: every cut is repaired by
     * replaying the journal on the new connection while other threads keep writing on the other
     * connections. A replay that let a newer write reach the server before older journal contents
     * (or missed one acknowledged on a live connection) shows up as a read that differs from the
     * thread's model; a journal that could not repair a cut shows up as a failed sync.
     */
    @Test
    void cutsWithUnflushedWritesAreRepairedByReplayingTheJournal() throws Exception {
        run("dev.volumes.nbd.ReconnectStressTest#cutsWithUnflushedWritesAreRepairedByReplayingTheJournal", false);
    }

    private void run(String test, boolean fua) throws Exception {
        long seed = Seeds.forTest(test);
        int threads = 6;
        int ops = Seeds.scaled(250);
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", MemoryDevice.create("disk", (long) threads * REGION), "");
            server.start();
            try (CuttingProxy proxy = new CuttingProxy(server.address());
                    NbdDevice d = NbdClient.builder().port(proxy.port()).exportName("disk").connections(3)
                            .reconnectDeadline(Duration.ofSeconds(30)).open()) {
                AtomicBoolean running = new AtomicBoolean(true);
                Thread cutter = Thread.ofVirtual().start(() -> {
                    Random r = new Random(seed);
                    while (running.get()) {
                        try {
                            Thread.sleep(5 + r.nextInt(40));
                        } catch (InterruptedException e) {
                            return;
                        }
                        proxy.cutAll();
                    }
                });
                List<Throwable> failures = new CopyOnWriteArrayList<>();
                List<Thread> workers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    workers.add(Thread.ofVirtual().start(() -> {
                        Random rnd = new Random(seed + 1 + id);
                        byte[] model = new byte[REGION];
                        long base = (long) id * REGION;
                        try {
                            for (int i = 0; i < ops; i++) {
                                int off = rnd.nextInt(REGION - 1);
                                int len = 1 + rnd.nextInt(Math.min(REGION - off, 64 * 1024));
                                if (rnd.nextBoolean()) {
                                    byte[] b = new byte[len];
                                    rnd.nextBytes(b);
                                    d.write(ByteBuffer.wrap(b), base + off, fua ? WriteFlag.FUA : WriteFlag.NONE);
                                    System.arraycopy(b, 0, model, off, len);
                                    if (!fua && rnd.nextInt(16) == 0) {
                                        d.sync(); // a durability point: fails if a cut could not be repaired
                                    }
                                } else {
                                    ByteBuffer b = ByteBuffer.allocate(len);
                                    d.read(b, base + off);
                                    if (!java.util.Arrays.equals(b.array(), 0, len, model, off, off + len)) {
                                        throw new AssertionError("thread " + id + " read " + len + " at " + off
                                                + " differs from what it wrote");
                                    }
                                }
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }));
                }
                for (Thread w : workers) {
                    w.join();
                }
                running.set(false);
                cutter.join();
                assertThat(failures).as(Seeds.reproduceWith(test)).isEmpty();
                d.sync();
                System.out.println("reconnect stress (" + (fua ? "FUA" : "unflushed") + "): reconnects="
                        + d.reconnects() + " resent=" + d.resentRequests() + " replays=" + d.replays()
                        + " replayed=" + d.replayedRequests());
                assertThat(d.reconnects()).as("the proxy really cut connections").isPositive();
                if (!fua) {
                    assertThat(d.replays()).as("cuts with unflushed writes were replayed").isPositive();
                }
            }
        }
    }
}

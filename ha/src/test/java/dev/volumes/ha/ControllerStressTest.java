package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.WriteFlag;
import dev.volumes.testkit.Seeds;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Three controllers on in-memory coordination over one term-fenced store, with writers on every
 * node, random lease losses, random fence failures and a deposed leader's stale session that keeps
 * writing; the history checker must find nothing.
 */
class ControllerStressTest {

    private static final int BLOCKS = 32;

    @Test
    void randomFailoversNeverAcceptStaleWritesNorLoseAcknowledgedOnes() throws Exception {
        Random random = Seeds.random("ControllerStressTest");
        int rounds = Seeds.scaled(3);
        for (int round = 0; round < rounds; round++) {
            long seed = random.nextLong();
            List<String> violations = runOnce(seed);
            assertThat(violations).as("round seed %d; %s", seed,
                    Seeds.reproduceWith("ControllerStressTest#randomFailoversNeverAcceptStaleWritesNorLoseAcknowledgedOnes"))
                    .isEmpty();
        }
    }

    private List<String> runOnce(long seed) throws Exception {
        Random random = new Random(seed);
        FencedStore store = new FencedStore((long) BLOCKS * WriteHistory.BLOCK);
        WriteHistory history = new WriteHistory();
        AtomicBoolean fenceTrouble = new AtomicBoolean();
        List<Controller> controllers = new ArrayList<>();
        java.util.Map<String, TermEngine> engines = new java.util.HashMap<>();
        List<Thread> writers = new ArrayList<>();
        List<Thread> zombies = new ArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        try (InMemoryCoordination group = new InMemoryCoordination()) {
            for (String id : List.of("a", "b", "c")) {
                TermEngine engine = new TermEngine("vol", store.content().capacity(), Capabilities.of(), term -> {
                    if (fenceTrouble.get()) {
                        throw new IOException("replicas unreachable (injected)");
                    }
                    Device d = store.claim(term);
                    history.claimed(id, term);
                    return d;
                });
                engines.put(id, engine);
                Controller c = Controller.builder().coordinator(group.coordinator(id)).fencer(engine)
                        .backoff(Duration.ofMillis(1), Duration.ofMillis(8)).maxFenceAttempts(3)
                        .recampaignDelay(Duration.ofMillis(2)).start();
                controllers.add(c);
                Device gated = c.gate(engine, ReadPolicy.ANY_STATE);
                Random wr = new Random(random.nextLong());
                writers.add(Thread.ofVirtual().start(() -> writeLoop(id, c, gated, store, history, wr, stop)));
            }
            int events = 40;
            for (int i = 0; i < events; i++) {
                Thread.sleep(random.nextInt(1, 6));
                String leader = group.leader();
                switch (random.nextInt(4)) {
                    case 0, 1 -> {
                        if (leader != null) {
                            long staleTerm = engines.get(leader).openTerm(); // what it claimed, 0 if none
                            group.expire(leader);
                            if (staleTerm > 0) {
                                // the deposed leader's old session keeps writing
                                Device zombie = store.session(staleTerm);
                                zombies.add(Thread.ofVirtual().start(
                                        () -> zombieWrites(leader, staleTerm, zombie, history, new Random(seed))));
                            }
                        }
                    }
                    case 2 -> fenceTrouble.set(!fenceTrouble.get());
                    default -> group.expire(List.of("a", "b", "c").get(random.nextInt(3)));
                }
            }
            fenceTrouble.set(false);
            // liveness: once the faults stop, some leader writes again
            long before = history.ackedCount();
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
            while (history.ackedCount() == before && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            stop.set(true);
            for (Thread t : writers) {
                t.join();
            }
            for (Thread t : zombies) {
                t.join();
            }
            controllers.forEach(Controller::close);
        } finally {
            controllers.forEach(Controller::close);
        }
        assertThat(history.ackedCount()).as("a leader writes again after the faults stop, seed %d", seed).isPositive();
        return history.check(store.content(), BLOCKS);
    }

    private static void writeLoop(String id, Controller c, Device gated, FencedStore store, WriteHistory history,
            Random random, AtomicBoolean stop) {
        while (!stop.get()) {
            ControllerStatus s = c.status();
            WriteHistory.Write w = history.begin(id, s.term(), random.nextInt(BLOCKS));
            try {
                gated.write(w.payload(), w.offset(), WriteFlag.FUA);
                history.acked(w, store.lastWriteTerm());
            } catch (IOException e) {
                history.failed(w, e);
                Thread.onSpinWait();
                try {
                    Thread.sleep(1);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private static void zombieWrites(String id, long term, Device session, WriteHistory history, Random random) {
        for (int i = 0; i < 20; i++) {
            WriteHistory.Write w = history.begin(id + "-zombie", term, random.nextInt(BLOCKS));
            try {
                session.write(w.payload(), w.offset(), WriteFlag.FUA);
                history.acked(w);
            } catch (IOException e) {
                history.failed(w, e);
            }
        }
    }
}

package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.ReadOnlyDeviceException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ControllerTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final InMemoryCoordination group = new InMemoryCoordination();
    private final List<Controller> controllers = new CopyOnWriteArrayList<>();

    @AfterEach
    void tearDown() {
        controllers.forEach(Controller::close);
        group.close();
    }

    /** Records fences and releases; fails the first {@code failures} fences. */
    static final class ScriptedFencer implements Fencer {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final AtomicInteger failuresLeft;
        volatile CountDownLatch gate = new CountDownLatch(0);

        ScriptedFencer(int failures) {
            this.failuresLeft = new AtomicInteger(failures);
        }

        @Override
        public void fence(long term) throws IOException {
            calls.add("fence " + term);
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (failuresLeft.getAndDecrement() > 0) {
                throw new IOException("replica unreachable");
            }
        }

        @Override
        public void release(long term) {
            calls.add("release " + term);
        }
    }

    private Controller start(String id, Fencer fencer) {
        Controller c = Controller.builder().coordinator(group.coordinator(id)).fencer(fencer)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(40)).maxFenceAttempts(4)
                .recampaignDelay(Duration.ofMillis(10)).start();
        controllers.add(c);
        return c;
    }

    @Test
    void electedNodeFencesThenLeadsAndEveryTransitionIsObservable() throws Exception {
        ScriptedFencer fencer = new ScriptedFencer(0);
        List<ControllerEvent> events = new CopyOnWriteArrayList<>();
        Controller a = Controller.builder().coordinator(group.coordinator("a")).fencer(fencer).observer(events::add)
                .start();
        controllers.add(a);
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 1));
        assertThat(fencer.calls).containsExactly("fence 1");
        ControllerCounters c = a.counters();
        assertThat(c.elections()).isEqualTo(1);
        assertThat(c.promotions()).isEqualTo(1);
        assertThat(c.fenceAttempts()).isEqualTo(1);
        assertThat(c.campaigns()).isEqualTo(1);
        assertThat(events).extracting(ControllerEvent::to).containsExactly(ControllerState.FENCE_PENDING,
                ControllerState.LEADER);
        assertThat(events.get(1).reason()).contains("fenced");
    }

    @Test
    void writesAreRefusedWhileFencingIsPendingAndAllowedOnlyAfterIt() throws Exception {
        ScriptedFencer fencer = new ScriptedFencer(0);
        fencer.gate = new CountDownLatch(1);
        Controller a = start("a", fencer);
        Device gated = a.gate(MemoryDevice.create("vol", 4096), ReadPolicy.ANY_STATE);
        assertThat(a.awaitState(ControllerState.FENCE_PENDING, WAIT)).isNotNull();
        assertThatThrownBy(() -> gated.write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class)
                .isInstanceOf(ReadOnlyDeviceException.class)
                .hasMessageContaining("node a is not the leader (state FENCE_PENDING, term 1)");
        assertThatThrownBy(gated::sync).isInstanceOf(NotLeaderException.class);
        assertThatThrownBy(() -> gated.writeZeroes(0, 512, false)).isInstanceOf(NotLeaderException.class);
        assertThatThrownBy(() -> gated.discard(0, 512)).isInstanceOf(NotLeaderException.class);
        gated.read(ByteBuffer.allocate(512), 0); // ANY_STATE
        fencer.gate.countDown();
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        gated.write(ByteBuffer.allocate(512), 0);
        gated.sync();
        assertThat(a.counters().refusedWrites()).isEqualTo(4);
    }

    @Test
    void leaderOnlyReadPolicyRefusesReadsOnAFollower() throws Exception {
        Controller a = start("a", new ScriptedFencer(0));
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        Controller b = start("b", new ScriptedFencer(0));
        Device gatedB = b.gate(MemoryDevice.create("vol", 4096), ReadPolicy.LEADER_ONLY);
        assertThatThrownBy(() -> gatedB.read(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class)
                .hasMessageContaining("state FOLLOWER");
    }

    @Test
    void failedFencesAreRetriedWithBackoffUntilOneSucceeds() throws Exception {
        ScriptedFencer fencer = new ScriptedFencer(2);
        Controller a = start("a", fencer);
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        assertThat(fencer.calls).containsExactly("fence 1", "fence 1", "fence 1");
        assertThat(a.counters().fenceFailures()).isEqualTo(2);
        assertThat(a.counters().promotions()).isEqualTo(1);
    }

    @Test
    void aNodeThatCannotFenceResignsAndAnotherNodeLeads() throws Exception {
        ScriptedFencer broken = new ScriptedFencer(Integer.MAX_VALUE);
        Controller a = start("a", broken);
        waitUntil(() -> a.counters().elections() == 1);
        ScriptedFencer fine = new ScriptedFencer(0);
        Controller b = start("b", fine);
        assertThat(b.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        assertThat(b.status().term()).isGreaterThan(1);
        assertThat(a.status().state()).isNotEqualTo(ControllerState.LEADER);
        assertThat(a.counters().fenceFailures()).isGreaterThanOrEqualTo(4);
        waitUntil(() -> broken.calls.contains("release 1")); // released on a's worker after its resignation
    }

    @Test
    void leaseLossDemotesAtOnceReleasesAndRecampaigns() throws Exception {
        ScriptedFencer fa = new ScriptedFencer(0);
        Controller a = start("a", fa);
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        Controller b = start("b", new ScriptedFencer(0));
        Device gatedA = a.gate(MemoryDevice.create("vol", 4096), ReadPolicy.ANY_STATE);
        gatedA.write(ByteBuffer.allocate(512), 0);

        group.expire("a"); // returns after a's lease loss was delivered
        assertThat(a.status()).isEqualTo(new ControllerStatus(ControllerState.FOLLOWER, 1));
        assertThatThrownBy(() -> gatedA.write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class);
        assertThat(b.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        // a campaigns again and takes over when b goes
        waitUntil(() -> group.coordinator("b").members().contains("a"));
        group.expire("b");
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 3));
        assertThat(fa.calls).containsExactly("fence 1", "release 1", "fence 3");
        assertThat(a.counters().demotions()).isEqualTo(1);
        assertThat(a.counters().campaigns()).isEqualTo(2);
    }

    @Test
    void leaseLostWhileFencingIsNeverPromoted() throws Exception {
        ScriptedFencer fencer = new ScriptedFencer(0);
        fencer.gate = new CountDownLatch(1);
        Controller a = start("a", fencer);
        assertThat(a.awaitState(ControllerState.FENCE_PENDING, WAIT)).isNotNull();
        group.expire("a");
        assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER);
        fencer.gate.countDown(); // the fence now "succeeds", too late
        waitUntil(() -> fencer.calls.contains("release 1"));
        assertThat(a.counters().promotions()).isZero();
        // alone in the group, it is elected again with a new term and promoted
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
    }

    @Test
    void closeRefusesWritesAndHandsOver() throws Exception {
        Controller a = start("a", new ScriptedFencer(0));
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        Controller b = start("b", new ScriptedFencer(0));
        Device gatedA = a.gate(MemoryDevice.create("vol", 4096), ReadPolicy.ANY_STATE);
        a.close();
        assertThat(a.status().state()).isEqualTo(ControllerState.CLOSED);
        assertThatThrownBy(() -> gatedA.write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class);
        assertThat(b.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
    }

    private Controller startOnEngine(String id, TermEngine engine, List<ControllerEvent> events) {
        Controller c = Controller.builder().coordinator(group.coordinator(id)).fencer(engine)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(40)).maxFenceAttempts(4)
                .recampaignDelay(Duration.ofMillis(10)).writeFailureBackoff(Duration.ofMillis(10), Duration.ofSeconds(10))
                .healthCheckTicker(new ManualTicker()) // only failed I/O reports here: never ticked
                .observer(events::add).start();
        controllers.add(c);
        return c;
    }

    private static TermEngine engine(TermEngineTest.BreakableOpener opener) {
        return new TermEngine("vol", 4096, dev.volumes.device.Capabilities.of(), opener);
    }

    @Test
    void aLeaderWhoseWritePathFailsStepsDownAtOnceAndIsReelectedWithAFreshTerm() throws Exception {
        TermEngineTest.BreakableOpener opener = new TermEngineTest.BreakableOpener();
        TermEngine engine = engine(opener);
        List<ControllerEvent> events = new CopyOnWriteArrayList<>();
        Controller a = startOnEngine("a", engine, events);
        Device gated = a.gate(engine, ReadPolicy.LEADER_ONLY);
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 1));
        gated.write(ByteBuffer.allocate(512), 0);
        opener.last().broken = true;

        assertThatThrownBy(() -> gated.write(ByteBuffer.allocate(512), 0)).hasMessageContaining("replica write failed");
        // demoted before the failed write returned: the gate refuses from now on
        assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER);
        assertThatThrownBy(() -> gated.write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class);
        // it resigned; alone in the group, it is elected again with a fresh term and fences afresh
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        gated.write(ByteBuffer.allocate(512), 0);
        assertThat(opener.opened).hasSize(2);
        assertThatThrownBy(() -> opener.opened.getFirst().size()).isInstanceOf(dev.volumes.device.DeviceClosedException.class);
        ControllerCounters c = a.counters();
        assertThat(c.writePathFailures()).isEqualTo(1);
        assertThat(c.demotions()).isEqualTo(1);
        assertThat(c.promotions()).isEqualTo(2);
        assertThat(events).filteredOn(e -> e.from() == ControllerState.LEADER).singleElement()
                .satisfies(e -> assertThat(e.reason()).contains("write path failed")
                        .contains("engine failed stop: 1 of 3 in sync").contains("again in 10 ms"));
    }

    @Test
    void anotherCandidateTakesOverWhenTheLeadersWritePathFails() throws Exception {
        TermEngineTest.BreakableOpener openerA = new TermEngineTest.BreakableOpener();
        TermEngine engineA = engine(openerA);
        Controller a = startOnEngine("a", engineA, new CopyOnWriteArrayList<>());
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        TermEngineTest.BreakableOpener openerB = new TermEngineTest.BreakableOpener();
        TermEngine engineB = engine(openerB);
        Controller b = startOnEngine("b", engineB, new CopyOnWriteArrayList<>());
        waitUntil(() -> group.coordinator("a").members().contains("b"));
        openerA.last().broken = true;
        assertThatThrownBy(() -> a.gate(engineA, ReadPolicy.ANY_STATE).sync()).isInstanceOf(IOException.class);
        assertThat(b.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        b.gate(engineB, ReadPolicy.ANY_STATE).write(ByteBuffer.allocate(512), 0);
        waitUntil(() -> engineA.openTerm() == 0); // released on a's own worker, after its lease loss
        waitUntil(() -> group.coordinator("b").members().contains("a")); // a campaigns again after its backoff
        assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER);
        assertThat(a.counters().writePathFailures()).isEqualTo(1);
    }

    @Test
    void aTransientWriteFailureKeepsTheLead() throws Exception {
        TermEngineTest.BreakableOpener opener = new TermEngineTest.BreakableOpener();
        TermEngine engine = engine(opener);
        Controller a = startOnEngine("a", engine, new CopyOnWriteArrayList<>());
        Device gated = a.gate(engine, ReadPolicy.LEADER_ONLY);
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        opener.last().permanent = false;
        opener.last().broken = true;
        assertThatThrownBy(() -> gated.write(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class);
        opener.last().broken = false;
        gated.write(ByteBuffer.allocate(512), 0);
        assertThat(a.status()).isEqualTo(new ControllerStatus(ControllerState.LEADER, 1));
        assertThat(a.counters().writePathFailures()).isZero();
    }

    @Test
    void repeatedWritePathFailuresBackOffDoublingBeforeEachCampaign() throws Exception {
        TermEngineTest.BreakableOpener opener = new TermEngineTest.BreakableOpener();
        opener.openBroken = true; // every term's write path is broken from the start
        TermEngine engine = engine(opener);
        List<ControllerEvent> events = new CopyOnWriteArrayList<>();
        Controller a = startOnEngine("a", engine, events);
        Device gated = a.gate(engine, ReadPolicy.LEADER_ONLY);
        for (long term = 1; term <= 3; term++) {
            assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, term));
            assertThatThrownBy(() -> gated.write(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class);
            assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER);
        }
        assertThat(events).filteredOn(e -> e.from() == ControllerState.LEADER).extracting(ControllerEvent::reason)
                .satisfiesExactly(r -> assertThat(r).contains("again in 10 ms"), r -> assertThat(r).contains("again in 20 ms"),
                        r -> assertThat(r).contains("again in 40 ms"));
        assertThat(a.counters().writePathFailures()).isEqualTo(3);
    }

    /** Runs the health check by hand: no clock, no thread. */
    static final class ManualTicker implements HealthCheck.Ticker {
        final List<Runnable> tasks = new CopyOnWriteArrayList<>();
        volatile Duration period;

        @Override
        public AutoCloseable every(Duration every, Runnable task) {
            period = every;
            tasks.add(task);
            return () -> tasks.remove(task);
        }

        void tick() {
            tasks.forEach(Runnable::run);
        }
    }

    @Test
    void anIdleLeaderWhoseWritePathFailedStepsDownAtTheNextHealthCheck() throws Exception {
        TermEngineTest.BreakableOpener opener = new TermEngineTest.BreakableOpener();
        TermEngine engine = engine(opener);
        ManualTicker ticker = new ManualTicker();
        List<ControllerEvent> events = new CopyOnWriteArrayList<>();
        Controller a = Controller.builder().coordinator(group.coordinator("a")).fencer(engine)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(40)).recampaignDelay(Duration.ofMillis(10))
                .writeFailureBackoff(Duration.ofMillis(10), Duration.ofSeconds(10))
                .healthCheckInterval(Duration.ofMillis(300)).healthCheckTicker(ticker).observer(events::add).start();
        controllers.add(a);
        assertThat(ticker.period).isEqualTo(Duration.ofMillis(300));
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 1));
        ticker.tick(); // healthy: keeps the lead
        assertThat(opener.asked).hasValue(1);
        assertThat(a.status().state()).isEqualTo(ControllerState.LEADER);

        opener.last().broken = true; // the engine failed stop; nothing writes
        assertThat(a.status().state()).isEqualTo(ControllerState.LEADER); // nobody noticed yet
        ticker.tick();
        assertThat(a.status().state()).isEqualTo(ControllerState.FOLLOWER); // demoted inside the check
        assertThat(a.counters().writePathFailures()).isEqualTo(1);
        assertThat(events).filteredOn(e -> e.from() == ControllerState.LEADER).singleElement()
                .satisfies(e -> assertThat(e.reason()).contains("engine failed stop: 1 of 3 in sync")
                        .contains("periodic health check").contains("again in 10 ms"));
        // it resigned: alone, it is re-elected with a fresh term on a fresh device
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        ticker.tick();
        assertThat(a.status()).isEqualTo(new ControllerStatus(ControllerState.LEADER, 2));
        a.close();
        assertThat(ticker.tasks).isEmpty(); // the check stops with the controller
    }

    @Test
    void theHealthCheckAsksNothingUnlessTheNodeLeads() throws Exception {
        TermEngineTest.BreakableOpener opener = new TermEngineTest.BreakableOpener();
        TermEngine engine = engine(opener);
        Controller a = startOnEngine("a", engine, new CopyOnWriteArrayList<>());
        assertThat(a.awaitState(ControllerState.LEADER, WAIT)).isNotNull();
        ManualTicker ticker = new ManualTicker();
        TermEngineTest.BreakableOpener openerB = new TermEngineTest.BreakableOpener();
        Controller b = Controller.builder().coordinator(group.coordinator("b")).fencer(engine(openerB))
                .healthCheckTicker(ticker).start();
        controllers.add(b);
        waitUntil(() -> group.coordinator("a").members().contains("b"));
        ticker.tick();
        ticker.tick();
        assertThat(openerB.asked).hasValue(0);
        assertThat(b.status().state()).isEqualTo(ControllerState.FOLLOWER);
    }

    @Test
    void stepDownBackoffDoublesUnlessTheTermLastedAtLeastTheMaximum() {
        Backoff b = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(60));
        long briefly = Duration.ofSeconds(2).toNanos();
        assertThat(b.afterFailure(briefly)).isEqualTo(Duration.ofSeconds(1));
        assertThat(b.afterFailure(briefly)).isEqualTo(Duration.ofSeconds(2));
        assertThat(b.afterFailure(briefly)).isEqualTo(Duration.ofSeconds(4));
        for (int i = 0; i < 5; i++) {
            b.afterFailure(briefly);
        }
        assertThat(b.afterFailure(briefly)).isEqualTo(Duration.ofSeconds(60)); // capped
        assertThat(b.afterFailure(Duration.ofSeconds(60).toNanos())).isEqualTo(Duration.ofSeconds(1)); // led long
        assertThat(Backoff.doubled(Duration.ofMillis(30), Duration.ofMillis(40))).isEqualTo(Duration.ofMillis(40));
        assertThatThrownBy(() -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitUntil(Condition condition) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached within " + WAIT);
            }
            TimeUnit.MILLISECONDS.sleep(5);
        }
    }
}

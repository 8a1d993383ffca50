package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A fencing probe (the engine's claim of a failed replica with its own term) that answers only
 * after the engine gave up waiting for it must not leave its session open: nobody would ever
 * close it, and a claimed session left behind is exactly the kind of stale session that can
 * later re-claim the replica (docs/replication.md §1 "Abandoned sessions"). Before the fix the
 * late probe's device was dropped with its cancelled future and never closed.
 */
class LateProbeTest {

    /** A view that records whether it was closed. */
    static final class Session extends ForwardingDevice {
        volatile boolean closed;

        Session(Device d) {
            super(d);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** Hands out sessions on {@code disk}; every claim after the first waits for {@link #gate}. */
    static final class GatedConnector implements ReplicaConnector {
        final Device disk;
        final CountDownLatch gate = new CountDownLatch(1);
        final List<Session> sessions = new CopyOnWriteArrayList<>();

        GatedConnector(Device disk) {
            this.disk = disk;
        }

        @Override
        public Device connect(long term, String writer) {
            if (!sessions.isEmpty()) {
                boolean interrupted = false;
                while (true) { // a handshake that an interrupt does not stop
                    try {
                        gate.await();
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            Session s = new Session(disk);
            sessions.add(s);
            return s;
        }

        @Override
        public String describe() {
            return "gated";
        }
    }

    @Test
    void aProbeThatAnswersAfterTheEngineGaveUpIsClosed() throws Exception {
        Fixture fx = new Fixture(3, 1 << 20);
        GatedConnector r2 = new GatedConnector(fx.faults.get(2));
        Replication.Builder b = Replication.builder().name("set").term(1).writer("w1")
                .stateDevice(new Fixture.Unclosable(fx.state)).regionSize(Fixture.REGION)
                .writeTimeout(Duration.ofSeconds(2)).skipInitialSync() // also bounds the probe; r0, r1 must never time out
                .replica("r0", fx.faults.get(0)).replica("r1", fx.faults.get(1)).replica("r2", r2);
        try (ReplicatedDevice dev = b.open()) {
            fx.write(dev, 0, 4096, 1);
            fx.faults.get(2).on(Op.WRITE).when(r -> r.offset() == 4096).times(1).fail(FaultInjector.Fault.EIO);
            fx.write(dev, 4096, 4096, 2); // r2 fails: probed (the probe's claim waits), then dropped
            assertThat(dev.status().get(2).state()).isEqualTo(ReplicaState.OUT_OF_SYNC);
            assertThat(r2.sessions).hasSize(1);
            r2.gate.countDown(); // the probe's claim answers now, long after the engine gave up
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while ((r2.sessions.size() < 2 || !r2.sessions.get(1).closed) && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(r2.sessions).hasSize(2);
            assertThat(r2.sessions.get(1).closed).as("the late probe's session").isTrue();
            fx.assertInSyncReplicasMatchModel(dev);
        }
    }
}

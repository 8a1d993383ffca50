package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.OutOfRangeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TermEngineTest {

    private final List<Device> opened = new ArrayList<>();

    private TermEngine engine(long size) {
        return new TermEngine("vol", 4096, Capabilities.of(), term -> {
            Device d = MemoryDevice.create("vol@" + term, size);
            opened.add(d);
            return d;
        });
    }

    @Test
    void withoutAnOpenTermEveryOperationIsNotLeader() {
        TermEngine e = engine(4096);
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(1), 0)).isInstanceOf(NotLeaderException.class)
                .hasMessageContaining("no term is open");
        assertThatThrownBy(() -> e.read(ByteBuffer.allocate(1), 0)).isInstanceOf(NotLeaderException.class);
        assertThat(e.openTerm()).isZero();
    }

    @Test
    void fencingANewTermClosesTheOlderAndReleaseClosesTheCurrent() throws IOException {
        TermEngine e = engine(4096);
        e.fence(3);
        e.fence(3); // idempotent
        assertThat(opened).hasSize(1);
        e.write(ByteBuffer.wrap(new byte[] {1}), 0);
        e.fence(5);
        assertThat(e.openTerm()).isEqualTo(5);
        assertThatThrownBy(() -> opened.get(0).size()).isInstanceOf(DeviceClosedException.class);
        assertThatThrownBy(() -> e.fence(4)).isInstanceOf(IOException.class).hasMessageContaining("term 5");
        e.release(3); // not open: nothing
        assertThat(e.openTerm()).isEqualTo(5);
        e.release(5);
        assertThat(e.openTerm()).isZero();
        assertThatThrownBy(() -> opened.get(1).size()).isInstanceOf(DeviceClosedException.class);
    }

    @Test
    void aDeviceOfTheWrongSizeIsRefused() {
        TermEngine e = engine(8192);
        assertThatThrownBy(() -> e.fence(1)).hasMessageContaining("8192").hasMessageContaining("expected 4096");
        assertThat(e.openTerm()).isZero();
    }

    /** Devices that fail on demand; the opener says a device "cannot write" while it is broken. */
    static final class BreakableOpener implements TermEngine.Opener {
        final List<BreakableDevice> opened = new CopyOnWriteArrayList<>();
        final AtomicInteger asked = new AtomicInteger();
        volatile boolean openBroken;

        @Override
        public Device open(long term) {
            BreakableDevice d = new BreakableDevice(MemoryDevice.create("vol@" + term, 4096));
            d.broken = openBroken;
            opened.add(d);
            return d;
        }

        @Override
        public Optional<String> writeFailure(Device device) {
            asked.incrementAndGet();
            BreakableDevice d = (BreakableDevice) device;
            return d.broken && d.permanent ? Optional.of("engine failed stop: 1 of 3 in sync") : Optional.empty();
        }

        BreakableDevice last() {
            return opened.getLast();
        }
    }

    static final class BreakableDevice extends dev.volumes.device.ForwardingDevice {
        volatile boolean broken;
        volatile boolean permanent = true;
        volatile IOException failure;
        volatile CountDownLatch hold = new CountDownLatch(0);

        BreakableDevice(Device d) {
            super(d);
        }

        private void check() throws IOException {
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (failure != null) {
                throw failure;
            }
            if (broken) {
                throw new IOException("replica write failed");
            }
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            check();
            super.write(src, offset);
        }

        @Override
        public void write(ByteBuffer src, long offset, dev.volumes.device.WriteFlag flag) throws IOException {
            check();
            super.write(src, offset, flag);
        }

        @Override
        public void sync() throws IOException {
            check();
            super.sync();
        }
    }

    @Test
    void aFailureTheOpenerCallsPermanentIsReportedOnceWithItsTerm() throws IOException {
        BreakableOpener opener = new BreakableOpener();
        TermEngine e = new TermEngine("vol", 4096, Capabilities.of(), opener);
        List<String> reports = new CopyOnWriteArrayList<>();
        e.watchTermFailures((term, reason) -> reports.add(term + ": " + reason));
        e.fence(7);
        e.write(ByteBuffer.allocate(512), 0);
        assertThat(reports).isEmpty();
        opener.last().broken = true;
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(512), 0)).hasMessageContaining("replica write failed");
        assertThatThrownBy(e::sync).hasMessageContaining("replica write failed");
        assertThat(reports).containsExactly("7: engine failed stop: 1 of 3 in sync");
        // a new term is a new write path: its failure is reported again
        e.fence(8);
        opener.last().broken = true;
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class);
        assertThat(reports).containsExactly("7: engine failed stop: 1 of 3 in sync", "8: engine failed stop: 1 of 3 in sync");
    }

    @Test
    void aFailureTheOpenerCallsTransientIsNotReported() throws IOException {
        BreakableOpener opener = new BreakableOpener();
        TermEngine e = new TermEngine("vol", 4096, Capabilities.of(), opener);
        List<Long> reports = new CopyOnWriteArrayList<>();
        e.watchTermFailures((term, reason) -> reports.add(term));
        e.fence(1);
        opener.last().broken = true;
        opener.last().permanent = false;
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class);
        assertThat(opener.asked).hasValue(1);
        assertThat(reports).isEmpty();
    }

    @Test
    void refusalsAndRangeErrorsAreNotAskedAbout() throws IOException {
        BreakableOpener opener = new BreakableOpener();
        TermEngine e = new TermEngine("vol", 4096, Capabilities.of(), opener);
        e.watchTermFailures((term, reason) -> {
            throw new AssertionError("reported " + term);
        });
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(512), 0)).isInstanceOf(NotLeaderException.class);
        e.fence(1);
        opener.last().broken = true;
        opener.last().failure = new OutOfRangeException("vol", "write", 8192, 512, 4096);
        assertThatThrownBy(() -> e.write(ByteBuffer.allocate(512), 8192)).isInstanceOf(OutOfRangeException.class);
        assertThat(opener.asked).hasValue(0);
    }

    @Test
    void aFailureOfATermReleasedMeanwhileIsNotReported() throws Exception {
        BreakableOpener opener = new BreakableOpener();
        TermEngine e = new TermEngine("vol", 4096, Capabilities.of(), opener);
        List<Long> reports = new CopyOnWriteArrayList<>();
        e.watchTermFailures((term, reason) -> reports.add(term));
        e.fence(1);
        BreakableDevice d = opener.last();
        d.hold = new CountDownLatch(1);
        d.broken = true;
        List<Throwable> thrown = new CopyOnWriteArrayList<>();
        Thread writer = Thread.ofVirtual().start(() -> {
            try {
                e.write(ByteBuffer.allocate(512), 0);
            } catch (IOException ex) {
                thrown.add(ex);
            }
        });
        while (writer.getState() != Thread.State.WAITING) {
            Thread.sleep(1);
        }
        e.release(1); // the write in flight fails after its term is over
        d.hold.countDown();
        writer.join();
        assertThat(thrown).hasSize(1);
        assertThat(reports).isEmpty();
        assertThat(opener.asked).hasValue(0);
    }
}

package dev.volumes.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.volumes.device.Device;
import dev.volumes.device.Devices;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Tests of the conformance suite itself: run over deliberately broken devices it must fail, and
 * in the tests that are about the broken promise. The broken suites are nested classes, which
 * surefire never runs on its own; this test launches them through the JUnit Platform.
 */
class DeviceConformanceSelfTest {

    @Test
    void extentsThatClaimHolesOverDataAreCaught() {
        assertThat(failedTests(LyingExtentsSuite.class)).contains(
                "extentsExactlyCoverSortedMergedAndZeroRunsReadZero", "extentsOfKnownContentAreConsistent");
    }

    @Test
    void readsThatFillOnlyPartOfTheBufferAreCaught() {
        assertThat(failedTests(HalfReadSuite.class)).contains("writesAtOddOffsetsAndLengthsReadBackExactly",
                "readsAtOddOffsetsOfKnownContent", "concurrentReadersOfKnownContentAllSeeIt");
    }

    @Test
    void aDeviceThatKeepsWorkingAfterCloseIsCaught() {
        assertThat(failedTests(NeverClosesSuite.class)).containsExactly(
                "closedDeviceRefusesEverythingAndCloseIsIdempotent");
    }

    @Test
    void aReadOnlyViewThatLetsWritesThroughIsCaught() {
        assertThat(failedTests(LeakyReadOnlySuite.class)).contains(
                "readOnlyDeviceRefusesEveryModificationAndKeepsItsContent");
    }

    @Test
    void aCorrectDeviceFailsNothing() {
        assertThat(failedTests(CorrectSuite.class)).isEmpty();
    }

    /** Runs {@code suite} and returns the names of the test methods that failed. */
    private static Set<String> failedTests(Class<?> suite) {
        Set<String> failed = new TreeSet<>();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(suite)).build(),
                new TestExecutionListener() {
                    @Override
                    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                        if (result.getStatus() == TestExecutionResult.Status.FAILED
                                && id.getSource().orElse(null) instanceof MethodSource m) {
                            failed.add(m.getMethodName());
                        }
                    }
                });
        return failed;
    }

    // ----------------------------------------------------------------- broken devices

    /** Reports every range as a hole, whatever it holds. */
    static final class LyingExtentsSuite extends DeviceConformanceTest {
        @Override
        protected Device create(long size) {
            return new ForwardingDevice(MemoryDevice.create(size)) {
                @Override
                public List<Extent> extents(long offset, long length) throws IOException {
                    super.extents(offset, length);
                    return length == 0 ? List.of() : List.of(new Extent(offset, length, Extent.Type.HOLE));
                }
            };
        }

        @Override
        protected long deviceSize() {
            return 1 << 20;
        }
    }

    /** Reads only the first half of each request and zero-fills the rest. */
    static final class HalfReadSuite extends DeviceConformanceTest {
        @Override
        protected Device create(long size) {
            return new ForwardingDevice(MemoryDevice.create(size)) {
                @Override
                public void read(ByteBuffer dst, long offset) throws IOException {
                    int half = dst.remaining() / 2;
                    int end = dst.limit();
                    super.read(dst, offset);
                    for (int i = end - half; i < end; i++) {
                        dst.put(i, (byte) 0);
                    }
                }
            };
        }

        @Override
        protected long deviceSize() {
            return 1 << 20;
        }
    }

    /** close() does nothing. */
    static final class NeverClosesSuite extends DeviceConformanceTest {
        @Override
        protected Device create(long size) {
            return new ForwardingDevice(MemoryDevice.create(size)) {
                @Override
                public void close() {
                    // broken on purpose
                }
            };
        }

        @Override
        protected long deviceSize() {
            return 1 << 20;
        }
    }

    /** Reports READ_ONLY but forwards writes. */
    static final class LeakyReadOnlySuite extends DeviceConformanceTest {
        @Override
        protected Device create(long size) {
            return MemoryDevice.create(size);
        }

        @Override
        protected Device createReadOnly(byte[] content) throws IOException {
            MemoryDevice d = MemoryDevice.create(content.length);
            d.write(ByteBuffer.wrap(content), 0);
            Device readOnly = Devices.readOnly(d);
            return new ForwardingDevice(d) {
                @Override
                public dev.volumes.device.Capabilities capabilities() {
                    return readOnly.capabilities();
                }
            };
        }

        @Override
        protected long deviceSize() {
            return 1 << 20;
        }
    }

    /** The control: a correct device. */
    static final class CorrectSuite extends DeviceConformanceTest {
        @Override
        protected Device create(long size) {
            return MemoryDevice.create(size);
        }

        @Override
        protected long deviceSize() {
            return 1 << 20;
        }
    }
}

package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Capabilities;
import dev.volumes.device.Device;
import dev.volumes.device.DeviceClosedException;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
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
}

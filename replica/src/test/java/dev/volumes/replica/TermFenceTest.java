package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TermFenceTest {

    private final MemoryDevice disk = MemoryDevice.create("vol", 1 << 20);
    private final MemoryDevice termDisk = MemoryDevice.create("vol.term", TermStore.DEVICE_SIZE);

    private TermFence fence(Device device) throws IOException {
        return new TermFence("vol", device, TermStore.open(new Fixture.Unclosable(termDisk)), Duration.ofMillis(300));
    }

    @Test
    void lowerTermIsRefusedNamingBothTerms() throws IOException {
        TermFence f = fence(disk);
        f.claim(7, "nodeB", null);
        assertThatThrownBy(() -> f.claim(6, "nodeA", null))
                .isInstanceOf(FencedException.class)
                .hasMessageContaining("promised term 7")
                .hasMessageContaining("refusing term 6")
                .hasMessageContaining("nodeB");
        assertThatThrownBy(() -> f.claim(7, "nodeC", null)).isInstanceOf(FencedException.class);
        assertThat(f.promised()).isEqualTo(7);
    }

    @Test
    void newerClaimKillsEveryRequestOfTheOlderSessionAndCutsIt() throws IOException {
        TermFence f = fence(disk);
        AtomicInteger cut = new AtomicInteger();
        Device old = f.claim(1, "nodeA", cut::incrementAndGet);
        old.write(ByteBuffer.wrap(new byte[] {1}), 0);
        Device fresh = f.claim(2, "nodeB", null);
        assertThat(cut).hasValue(1);
        assertThatThrownBy(() -> old.write(ByteBuffer.wrap(new byte[] {2}), 0))
                .isInstanceOf(FencedException.class).hasMessageContaining("superseded by term 2");
        assertThatThrownBy(() -> old.read(ByteBuffer.allocate(1), 0)).isInstanceOf(FencedException.class);
        assertThatThrownBy(old::sync).isInstanceOf(FencedException.class);
        ByteBuffer b = ByteBuffer.allocate(1);
        fresh.read(b, 0);
        assertThat(b.get(0)).isEqualTo((byte) 1);
    }

    @Test
    void promiseSurvivesReopen() throws IOException {
        fence(disk).claim(42, "nodeA", null);
        assertThat(fence(disk).promised()).isEqualTo(42);
        assertThatThrownBy(() -> fence(disk).claim(41, "nodeX", null)).isInstanceOf(FencedException.class);
    }

    @Test
    void claimWaitsForRunningRequestsAndGivesUpOnAHungOne() throws Exception {
        FaultInjector inj = FaultInjector.wrap(disk);
        TermFence f = fence(inj);
        Device old = f.claim(1, "nodeA", null);
        inj.on(Op.WRITE).times(1).hang();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                old.write(ByteBuffer.allocate(512), 0);
            } catch (IOException e) {
                // expected either way
            }
        });
        assertThat(inj.awaitHung(1, Duration.ofSeconds(10))).isTrue();
        assertThatThrownBy(() -> f.claim(2, "nodeB", null)).hasMessageContaining("still running");
        inj.releaseHangs();
        t.join();
        f.claim(2, "nodeB", null);
        assertThat(f.promised()).isEqualTo(2);
    }

    @Test
    void exportNameCarriesTermAndWriter() {
        assertThat(ExportName.parse("vol;term=7;writer=nodeA")).isEqualTo(new ExportName("vol", 7, "nodeA"));
        assertThat(ExportName.parse("vol;writer=n;term=3").format()).isEqualTo("vol;term=3;writer=n");
        assertThat(ExportName.parse("vol")).isEqualTo(new ExportName("vol", 0, ""));
        assertThatThrownBy(() -> ExportName.parse("vol;term=x;writer=a")).hasMessageContaining("decimal");
        assertThatThrownBy(() -> ExportName.parse("vol;trem=3")).hasMessageContaining("unknown parameter");
        assertThatThrownBy(() -> ExportName.parse("vol;term=3")).hasMessageContaining("writer");
        assertThatThrownBy(() -> ExportName.parse("vol;term=0;writer=a")).hasMessageContaining(">= 1");
    }
}

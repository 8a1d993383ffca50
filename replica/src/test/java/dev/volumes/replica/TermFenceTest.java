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

    /**
     * A writer that claims again with its own term (a reconnect, or the engine's fencing probe)
     * retires its old session, but that is not a fence: the old session's requests fail as
     * ordinary errors. Once a newer term is promised they fail as fenced.
     */
    @Test
    void aSameWriterReclaimWithItsOwnTermRetiresTheOldSessionWithoutFencingIt() throws IOException {
        TermFence f = fence(disk);
        AtomicInteger cut = new AtomicInteger();
        Device first = f.claim(3, "nodeA", cut::incrementAndGet);
        first.write(ByteBuffer.wrap(new byte[] {1}), 0);
        Device second = f.claim(3, "nodeA", null);
        assertThat(cut).hasValue(1);
        assertThatThrownBy(() -> first.read(ByteBuffer.allocate(1), 0))
                .isInstanceOf(IOException.class).isNotInstanceOf(FencedException.class)
                .hasMessageContaining("replaced by a newer session of the same writer and term");
        assertThatThrownBy(() -> first.write(ByteBuffer.wrap(new byte[] {2}), 0))
                .isNotInstanceOf(FencedException.class);
        ByteBuffer b = ByteBuffer.allocate(1);
        second.read(b, 0);
        assertThat(b.get(0)).isEqualTo((byte) 1);
        f.claim(4, "nodeB", null);
        for (Device d : new Device[] {first, second}) {
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(1), 0))
                    .isInstanceOfSatisfying(FencedException.class, e -> {
                        assertThat(e.refusedTerm()).isEqualTo(3);
                        assertThat(e.promisedTerm()).isEqualTo(4);
                    });
        }
    }

    /**
     * The client's reading of a fencing text that crossed NBD (an error reply's message, or a
     * handshake refusal): the structured tail decides, compared with the session's own term and
     * writer; without the tail only a strictly newer promised term is a fence.
     */
    @Test
    void theClientTakesOnlyANewerTermOrAnotherWriterOfItsTermAsAFence() throws IOException {
        TermFence f = fence(disk);
        Device old = f.claim(7, "nodeA", null);
        f.claim(8, "node B)]", null); // a writer id that needs escaping in the structured tail
        IOException refused = catchIo(() -> old.sync());
        IOException overNbd = new IOException("nbd server x export 'vol': sync of 0 bytes at offset 0 failed: EIO ("
                + refused.getMessage() + ")");
        assertThat(NbdConnector.asFenced(overNbd, "r0", 7, "nodeA"))
                .isNotNull()
                .satisfies(e -> {
                    assertThat(e.refusedTerm()).isEqualTo(7);
                    assertThat(e.promisedTerm()).isEqualTo(8);
                    assertThat(e.getMessage()).contains("superseded by term 8 of writer node B)]");
                });
        assertThat(NbdConnector.asFenced(overNbd, "r0", 8, "node B)]"))
                .as("the same text seen by the promised writer itself").isNull();
        // the same writer and term: the old session is merely replaced, on the wire as well
        TermFence g = new TermFence("vol2", disk, TermStore.open(MemoryDevice.create("t2", TermStore.DEVICE_SIZE)),
                Duration.ofMillis(300));
        Device first = g.claim(5, "nodeA", null);
        g.claim(5, "nodeA", null);
        IOException replaced = catchIo(() -> first.sync());
        assertThat(NbdConnector.asFenced(new IOException("EIO (" + replaced.getMessage() + ")"), "r0", 5, "nodeA"))
                .isNull();
        // a handshake refusal: the same term promised to another writer is a fence
        IOException claim = catchIo(() -> f.claim(8, "nodeC", null));
        assertThat(NbdConnector.asFenced(new dev.volumes.nbd.NbdRefusedException("127.0.0.1:1",
                "vol;term=8;writer=nodeC", "NBD_OPT_GO", 0x80000002, claim.getMessage()),
                "r0", 8, "nodeC")).isNotNull();
        // no structured tail (a truncated message): only a strictly newer term counts
        assertThat(NbdConnector.asFenced(new IOException("EIO (fenced: replica vol has promised term 9, refusing term 9"
                + " (request refused: ...))"), "r0", 9, "nodeA")).isNull();
        assertThat(NbdConnector.asFenced(new IOException("EIO (fenced: replica vol has promised term 9, refusing term 8"
                + " (request refused: ...))"), "r0", 8, "nodeA")).isNotNull();
    }

    private interface IoCall {
        void run() throws IOException;
    }

    private static IOException catchIo(IoCall call) {
        try {
            call.run();
        } catch (IOException e) {
            return e;
        }
        throw new AssertionError("expected an IOException");
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

    @Test
    void exportNameMayCarryASessionNumber() {
        assertThat(ExportName.parse("vol;session=9;term=7;writer=nodeA")).isEqualTo(new ExportName("vol", 7, "nodeA", 9));
        assertThat(new ExportName("vol", 7, "nodeA", 9).format()).isEqualTo("vol;term=7;writer=nodeA;session=9");
        assertThat(new ExportName("vol", 7, "nodeA").format()).isEqualTo("vol;term=7;writer=nodeA");
        assertThatThrownBy(() -> ExportName.parse("vol;term=7;writer=a;session=0")).hasMessageContaining(">= 1");
        assertThatThrownBy(() -> ExportName.parse("vol;term=7;writer=a;session=x")).hasMessageContaining("decimal");
        assertThatThrownBy(() -> ExportName.parse("vol;session=3")).hasMessageContaining("needs term");
        long a = ExportName.nextSession();
        assertThat(ExportName.nextSession()).isGreaterThan(a);
    }

    /**
     * Session numbers: a claim by the same writer with the same term but a lower session number
     * than the highest already claimed is a stale client (a superseded NBD session reconnecting on
     * its own) and is refused — not as a fence — leaving the newer session alive; an equal number
     * (a reconnect of the current session) and an unnumbered claim (an older client) are accepted;
     * a newer term starts the numbering afresh.
     */
    @Test
    void aLowerSessionNumberOfTheSameWriterAndTermIsRefusedWithoutFencing() throws IOException {
        TermFence f = fence(disk);
        Device s5 = f.claim(1, "nodeA", 5, null);
        s5.write(ByteBuffer.wrap(new byte[] {5}), 0);
        Device s7 = f.claim(1, "nodeA", 7, null);
        s7.write(ByteBuffer.wrap(new byte[] {7}), 0);
        assertThatThrownBy(() -> f.claim(1, "nodeA", 5, null))
                .isInstanceOf(TermFence.StaleSessionException.class).isNotInstanceOf(FencedException.class)
                .hasMessageContaining("session 5 is older than session 7").hasMessageContaining("not fenced");
        assertThat(NbdConnector.asFenced(catchIo(() -> f.claim(1, "nodeA", 6, null)), "r", 1, "nodeA")).isNull();
        ByteBuffer b = ByteBuffer.allocate(1);
        s7.read(b, 0); // still the current session: the refused claims retired nothing
        assertThat(b.get(0)).isEqualTo((byte) 7);
        Device again = f.claim(1, "nodeA", 7, null); // a reconnect of session 7
        assertThatThrownBy(() -> s7.read(ByteBuffer.allocate(1), 0)).hasMessageContaining("replaced by a newer session");
        Device legacy = f.claim(1, "nodeA", null); // no number: the rules from before session numbers
        assertThatThrownBy(() -> again.read(ByteBuffer.allocate(1), 0)).hasMessageContaining("replaced");
        legacy.read(ByteBuffer.allocate(1), 0);
        assertThatThrownBy(() -> f.claim(1, "nodeA", 6, null)).isInstanceOf(TermFence.StaleSessionException.class);
        f.claim(2, "nodeA", 1, null); // a newer term: numbering starts again
        f.claim(2, "nodeA", 2, null);
        assertThatThrownBy(() -> f.claim(2, "nodeA", 1, null)).isInstanceOf(TermFence.StaleSessionException.class);
        assertThatThrownBy(() -> f.claim(1, "nodeA", 99, null)).isInstanceOf(FencedException.class);
    }
}

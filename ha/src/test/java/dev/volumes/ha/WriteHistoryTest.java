package dev.volumes.ha;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The checker itself: each kind of violation is found, a clean history passes. */
class WriteHistoryTest {

    private static final int BLOCKS = 2;

    private static ByteBuffer volume(WriteHistory.Write... survivors) {
        ByteBuffer v = ByteBuffer.allocate(BLOCKS * WriteHistory.BLOCK);
        for (WriteHistory.Write w : survivors) {
            v.put((int) w.offset(), w.payload(), 0, WriteHistory.BLOCK);
        }
        return v;
    }

    @Test
    void cleanFailoverPasses() {
        WriteHistory h = new WriteHistory();
        h.claimed("a", 1);
        WriteHistory.Write w1 = h.begin("a", 1, 0);
        h.acked(w1);
        h.claimed("b", 2);
        WriteHistory.Write stale = h.begin("a", 1, 1);
        h.failed(stale, new java.io.IOException("fenced"));
        WriteHistory.Write w2 = h.begin("b", 2, 0);
        h.acked(w2);
        assertThat(h.check(volume(w2), BLOCKS)).isEmpty();
    }

    @Test
    void staleWriteAcknowledgedAfterANewerClaimIsFound() {
        WriteHistory h = new WriteHistory();
        h.claimed("a", 1);
        h.claimed("b", 2);
        WriteHistory.Write stale = h.begin("a", 1, 1);
        h.acked(stale);
        assertThat(h.check(volume(stale), BLOCKS)).anyMatch(v -> v.startsWith("stale write acknowledged"));
    }

    @Test
    void interleavedLeadersAreFound() {
        WriteHistory h = new WriteHistory();
        WriteHistory.Write newer = h.begin("b", 2, 0);
        h.acked(newer);
        WriteHistory.Write older = h.begin("a", 1, 1);
        h.acked(older);
        assertThat(h.check(volume(newer, older), BLOCKS)).anyMatch(v -> v.startsWith("two leaders writing"));
    }

    @Test
    void lostAcknowledgedWriteIsFound() {
        WriteHistory h = new WriteHistory();
        WriteHistory.Write first = h.begin("a", 1, 0);
        h.acked(first);
        WriteHistory.Write second = h.begin("a", 1, 0);
        h.acked(second);
        assertThat(h.check(volume(first), BLOCKS)).anyMatch(v -> v.startsWith("acknowledged write lost"));
        assertThat(h.check(volume(), BLOCKS)).anyMatch(v -> v.contains("reads zeros"));
    }

    @Test
    void aFailedWriteMayOrMayNotHaveLanded() {
        WriteHistory h = new WriteHistory();
        WriteHistory.Write acked = h.begin("a", 1, 0);
        h.acked(acked);
        WriteHistory.Write failed = h.begin("a", 1, 0);
        h.failed(failed, new java.io.IOException("timeout"));
        assertThat(h.check(volume(acked), BLOCKS)).isEmpty();
        assertThat(h.check(volume(failed), BLOCKS)).isEmpty();
    }

    @Test
    void garbageIsFound() {
        WriteHistory h = new WriteHistory();
        ByteBuffer v = ByteBuffer.allocate(BLOCKS * WriteHistory.BLOCK);
        v.put(5, (byte) 1);
        assertThat(h.check(v, BLOCKS)).anyMatch(s -> s.contains("torn or foreign"));
    }
}

package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.testkit.Seeds;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The replay journal as a data structure: acknowledged unflushed writes become non-overlapping
 * entries holding their latest content, FUA writes and TRIMs punch, a completed flush drops what
 * it covered, the byte cap overflows into "lost" until a flush, and every buffer is accounted.
 */
class ReplayJournalTest {

    private static final int W = Wire.CMD_WRITE;
    private static final int Z = Wire.CMD_WRITE_ZEROES;

    private static ReplayJournal.Copy data(ReplayJournal j, int length, int value) {
        byte[] b = new byte[length];
        java.util.Arrays.fill(b, (byte) value);
        return j.copy(ByteBuffer.wrap(b));
    }

    private static long write(ReplayJournal j, long offset, int length, int value) {
        return j.acknowledged(W, 0, offset, length, data(j, length, value));
    }

    /** Applies the snapshot to a zeroed image, as a replay onto an empty server would. */
    private static byte[] replay(ReplayJournal j, int size) {
        byte[] image = new byte[size];
        for (ReplayJournal.Entry e : j.snapshot()) {
            if (e.type() == W) {
                e.data().duplicate().get(image, (int) e.offset(), (int) e.length());
            } else {
                java.util.Arrays.fill(image, (int) e.offset(), (int) (e.offset() + e.length()), (byte) 0);
            }
        }
        return image;
    }

    @Test
    void overwritesCoalesceAndPartialOverwritesSplitSoTheSnapshotIsTheLatestContent() {
        ReplayJournal j = new ReplayJournal(1 << 20);
        assertThat(write(j, 0, 8192, 1)).isZero();
        assertThat(write(j, 0, 8192, 2)).isZero(); // same range: replaces
        assertThat(j.entries()).isEqualTo(1);
        write(j, 2048, 1024, 3); // inside: splits into three
        assertThat(j.entries()).isEqualTo(3);
        j.acknowledged(Z, Wire.CMD_FLAG_NO_HOLE, 6000, 4000, null); // crosses the end of the 8 KiB run
        byte[] image = replay(j, 16384);
        for (int i = 0; i < 16384; i++) {
            int expected = i >= 6000 && i < 10000 ? 0 : i >= 2048 && i < 3072 ? 3 : i < 8192 ? 2 : 0;
            assertThat(image[i]).as("byte %d", i).isEqualTo((byte) expected);
        }
        List<ReplayJournal.Entry> entries = j.snapshot();
        assertThat(entries).extracting(ReplayJournal.Entry::offset).isSorted();
        for (int i = 1; i < entries.size(); i++) {
            assertThat(entries.get(i).offset()).as("no overlap").isGreaterThanOrEqualTo(
                    entries.get(i - 1).offset() + entries.get(i - 1).length());
        }
        assertThat(entries.getLast().type()).isEqualTo(Z);
        assertThat(entries.getLast().flags()).isEqualTo(Wire.CMD_FLAG_NO_HOLE);
    }

    @Test
    void fuaWritesAndTrimsOnlyPunchSoAReplayNeverWritesOlderDataOverThem() {
        ReplayJournal j = new ReplayJournal(1 << 20);
        write(j, 0, 4096, 1);
        write(j, 8192, 4096, 2);
        assertThat(j.acknowledged(W, Wire.CMD_FLAG_FUA, 1024, 1024, null)).isZero(); // durable: not kept
        assertThat(j.acknowledged(Wire.CMD_TRIM, 0, 8192, 4096, null)).isZero();
        assertThat(j.snapshot()).extracting(ReplayJournal.Entry::offset, ReplayJournal.Entry::length)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(0L, 1024L),
                        org.assertj.core.groups.Tuple.tuple(2048L, 2048L));
    }

    @Test
    void aCompletedFlushDropsWhatItCoveredAndKeepsLaterAcknowledgements() {
        ReplayJournal j = new ReplayJournal(1 << 20);
        write(j, 0, 4096, 1);
        long covered = j.flushSending();
        write(j, 8192, 4096, 2); // acknowledged while the flush is in flight: not covered
        j.flushed(covered);
        assertThat(j.snapshot()).extracting(ReplayJournal.Entry::offset).containsExactly(8192L);
        j.flushed(j.flushSending());
        assertThat(j.entries()).isZero();
        assertThat(j.bytes()).isZero();
    }

    @Test
    void overflowDropsTheJournalAndCountsLossesUntilAFlushCoveringThemCompletes() {
        int cap = 2 * (4096 + ReplayJournal.ENTRY_OVERHEAD);
        ReplayJournal j = new ReplayJournal(cap);
        assertThat(write(j, 0, 4096, 1)).isZero();
        assertThat(write(j, 4096, 4096, 2)).isZero();
        assertThat(j.droppedSince()).isFalse();
        long lost = write(j, 8192, 4096, 3); // over the cap
        assertThat(lost).isPositive();
        assertThat(j.entries()).isZero();
        assertThat(j.bytes()).isZero();
        assertThat(j.lostSince()).isTrue();
        assertThat(j.droppedSince()).as("journaled entries were dropped too").isTrue();
        assertThat(j.journaling()).as("writes are not copied during the overflow").isFalse();
        assertThat(write(j, 0, 512, 4)).as("no journaling until a flush is sent").isPositive();
        assertThat(j.acknowledged(W, 0, 1024, 512, null))
                .as("a write sent uncopied during the overflow is lost, whenever its acknowledgement comes").isPositive();
        long covered = j.flushSending();
        assertThat(j.journaling()).isTrue();
        assertThat(j.acknowledged(W, 0, 1024, 512, null))
                .as("an uncopied write acknowledged after the flush was sent is lost again").isPositive();
        assertThat(j.journaling()).isFalse();
        covered = j.flushSending();
        assertThat(write(j, 0, 512, 5)).as("journaling again after the flush was sent").isZero();
        assertThat(j.lostSince()).as("until that flush completes").isTrue();
        j.flushed(covered);
        assertThat(j.lostSince()).isFalse();
        assertThat(j.droppedSince()).isFalse();
        assertThat(j.entries()).isEqualTo(1);
    }

    @Test
    void aCapOfZeroNeverJournalsAndCountsEveryUnflushedAcknowledgementButNotFua() {
        ReplayJournal j = new ReplayJournal(0);
        assertThat(j.enabled()).isFalse();
        assertThat(j.acknowledged(W, 0, 0, 512, null)).isPositive();
        assertThat(j.acknowledged(Wire.CMD_TRIM, 0, 0, 512, null)).isPositive();
        assertThat(j.acknowledged(W, Wire.CMD_FLAG_FUA, 0, 512, null)).isZero();
        assertThat(j.lostSince()).isTrue();
        j.flushed(j.flushSending());
        assertThat(j.lostSince()).isFalse();
    }

    @Test
    void aCopyIsReleasedToThePoolUnlessTheJournalClaimedIt() {
        ReplayJournal j = new ReplayJournal(1 << 20);
        ReplayJournal.Copy failed = data(j, 4096, 1);
        j.release(failed); // the write failed: back to the pool
        ReplayJournal.Copy kept = data(j, 4096, 2);
        assertThat(kept.buffer).as("recycled").isSameAs(failed.buffer);
        j.acknowledged(W, 0, 0, 4096, kept);
        j.release(kept); // the caller's finally: a no-op, the journal owns it
        assertThat(j.snapshot().getFirst().data().get(0)).isEqualTo((byte) 2);
    }

    @Test
    void randomOperationsAgainstAByteModel() {
        String test = "ReplayJournalTest.randomOperationsAgainstAByteModel";
        Random random = Seeds.random(test);
        int size = 1 << 16;
        for (int round = 0; round < Seeds.scaled(20); round++) {
            ReplayJournal j = new ReplayJournal(64L << 20);
            byte[] model = new byte[size];
            boolean[] kept = new boolean[size]; // bytes the journal must replay (unflushed, not FUA-durable)
            for (int op = 0; op < 200; op++) {
                int off = random.nextInt(size - 1);
                int len = 1 + random.nextInt(Math.min(size - off, 8192));
                int kind = random.nextInt(10);
                if (kind < 5) {
                    int v = 1 + random.nextInt(250);
                    write(j, off, len, v);
                    java.util.Arrays.fill(model, off, off + len, (byte) v);
                    java.util.Arrays.fill(kept, off, off + len, true);
                } else if (kind < 7) {
                    j.acknowledged(Z, 0, off, len, null);
                    java.util.Arrays.fill(model, off, off + len, (byte) 0);
                    java.util.Arrays.fill(kept, off, off + len, true);
                } else if (kind < 8) {
                    j.acknowledged(W, Wire.CMD_FLAG_FUA, off, len, null);
                    java.util.Arrays.fill(kept, off, off + len, false);
                } else if (kind < 9) {
                    j.acknowledged(Wire.CMD_TRIM, 0, off, len, null);
                    java.util.Arrays.fill(kept, off, off + len, false);
                } else {
                    j.flushed(j.flushSending());
                    java.util.Arrays.fill(kept, false);
                }
            }
            byte[] image = replay(j, size);
            boolean[] covered = new boolean[size];
            for (ReplayJournal.Entry e : j.snapshot()) {
                for (long i = e.offset(); i < e.offset() + e.length(); i++) {
                    covered[(int) i] = true;
                }
            }
            for (int i = 0; i < size; i++) {
                assertThat(covered[i]).as(Seeds.reproduceWith(test) + " byte %d kept", i).isEqualTo(kept[i]);
                if (kept[i]) {
                    assertThat(image[i]).as(Seeds.reproduceWith(test) + " byte %d", i).isEqualTo(model[i]);
                }
            }
            assertThat(j.bytes()).as("accounting").isGreaterThanOrEqualTo((long) j.entries() * ReplayJournal.ENTRY_OVERHEAD);
            j.flushed(j.flushSending());
            assertThat(j.bytes()).as(Seeds.reproduceWith(test) + ": every buffer given back").isZero();
        }
    }
}

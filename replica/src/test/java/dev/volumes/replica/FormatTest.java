package dev.volumes.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The worked examples of docs/replication.md, byte for byte. */
class FormatTest {

    private static final HexFormat HEX = HexFormat.of();

    static String hex(byte[] b, int from, int to) {
        return HEX.formatHex(b, from, to);
    }

    @Test
    void replicaHeaderWorkedExample() throws IOException {
        byte[] bitmap = new byte[512];
        bitmap[0] = 0x01; // region 0
        bitmap[1] = 0x02; // region 9
        ReplicaHeader h = new ReplicaHeader(7, 3, 4L << 30, 1 << 20, bitmap);
        byte[] enc = h.encode();
        assertThat(enc).hasSize(1024);
        assertThat(hex(enc, 0, 64)).isEqualTo(
                "564f4c5248445231" + "00000001" + "00000000"   // magic, version, reserved
                + "0000000000000007"                             // term
                + "0000000000000003"                             // generation
                + "0000000100000000"                             // data size 4 GiB
                + "0000000000100000"                             // region size 1 MiB
                + "00000200"                                     // bitmap length 512
                + "15b8e1e6"                                     // CRC32C of the bitmap
                + "00000000"                                     // reserved
                + "ac157232");                                   // CRC32C of bytes 0..59
        assertThat(hex(enc, 512, 516)).isEqualTo("01020000");
        byte[] area = new byte[ReplicaHeader.BITMAP_OFFSET];
        System.arraycopy(enc, 0, area, 0, area.length);
        ReplicaHeader back = ReplicaHeader.decodeHeader(area, "r0");
        assertThat(back.generation()).isEqualTo(3);
        assertThat(back.regionSize()).isEqualTo(1 << 20);
        enc[20] ^= 1;
        System.arraycopy(enc, 0, area, 0, area.length);
        assertThatThrownBy(() -> ReplicaHeader.decodeHeader(area, "r0")).hasMessageContaining("CRC32C");
        assertThat(ReplicaHeader.decodeHeader(new byte[512], "r0")).isEqualTo(ReplicaHeader.BLANK);
    }

    @Test
    void termSlotWorkedExample() {
        byte[] slot = TermStore.encode(new TermStore.Promise(1, 7, "nodeA"));
        assertThat(slot).hasSize(512);
        assertThat(hex(slot, 0, 37)).isEqualTo(
                "564f4c5254524d31" + "00000001" + "00000005"    // magic, version, writer length
                + "0000000000000001"                              // sequence
                + "0000000000000007"                              // term
                + "6e6f646541");                                  // "nodeA"
        assertThat(hex(slot, 96, 100)).isEqualTo("2662785b");
        assertThat(TermStore.decode(slot)).isEqualTo(new TermStore.Promise(1, 7, "nodeA"));
        slot[30] ^= 1;
        assertThat(TermStore.decode(slot)).isNull();
    }

    @Test
    void stateSlotRoundTripsAndRejectsCorruption() throws IOException {
        long data = 4L << 30;
        long region = 1 << 20;
        byte[] bitmap = new byte[StateRecord.bitmapBytes(data, region)];
        bitmap[0] = 3;
        StateRecord r = new StateRecord(5, 7, 3, region, data, List.of(
                new StateRecord.MemberRecord("a", true, 3, false, ""),
                new StateRecord.MemberRecord("b", false, 2, false, "dropped at generation 2: EIO")), bitmap);
        byte[] enc = r.encode();
        assertThat(enc).hasSize(StateRecord.slotSize(data, region));
        assertThat(hex(enc, 0, 64)).isEqualTo(
                "564f4c5253544131" + "00000001" + "00002000"    // magic, version, slot length 8192
                + "0000000000000005"                              // sequence
                + "0000000000000007"                              // term
                + "0000000000000003"                              // generation
                + "0000000000100000"                              // region size
                + "0000000100000000"                              // data size
                + "00000002" + "00000200");                       // members, bitmap bytes
        StateRecord back = StateRecord.decode(enc, "slot");
        assertThat(back.members()).isEqualTo(r.members());
        enc[100] ^= 1;
        assertThatThrownBy(() -> StateRecord.decode(enc, "slot")).hasMessageContaining("CRC32C");
    }
}

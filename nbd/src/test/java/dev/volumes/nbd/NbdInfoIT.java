package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** nbdinfo (libnbd) against our server: flags, contexts, block sizes, listing and the allocation map. */
class NbdInfoIT {

    private NbdServer server;
    private MemoryDevice device;

    @BeforeEach
    void start() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        device = MemoryDevice.create("disk", 64 << 20);
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("disk", device, "a memory disk");
        server.addExport("other", MemoryDevice.create(1 << 20), "second export");
        server.start();
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + server.address().getPort() + "/" + export;
    }

    @Test
    void jsonReportsStructuredRepliesContextsFlagsAndBlockSizes() throws Exception {
        PeerRun r = PeerRun.of(60, "nbdinfo", "--json", uri("disk")).ok();
        String json = r.stdout();
        assertThat(json).contains("\"protocol\": \"newstyle-fixed\"");
        assertThat(json).contains("\"TLS\": false");
        assertThat(json).contains("\"structured\": true");
        assertThat(json).contains("\"base:allocation\"");
        assertThat(json).contains("\"export-name\": \"disk\"");
        assertThat(json).contains("\"description\": \"a memory disk\"");
        assertThat(json).contains("\"export-size\": " + (64 << 20));
        assertThat(json).contains("\"is_read_only\": false");
        assertThat(json).contains("\"can_flush\": true");
        assertThat(json).contains("\"can_fua\": true");
        assertThat(json).contains("\"can_trim\": true");
        assertThat(json).contains("\"can_zero\": true");
        assertThat(json).contains("\"can_fast_zero\": true");
        assertThat(json).contains("\"can_df\": true");
        assertThat(json).contains("\"can_multi_conn\": true");
        assertThat(json).contains("\"can_cache\": true");
        assertThat(json).contains("\"block_size_minimum\": 1");
        assertThat(json).contains("\"block_size_preferred\": 4096");
        assertThat(json).contains("\"block_size_maximum\": " + (32 << 20));
    }

    @Test
    void listShowsEveryExportWithDescription() throws Exception {
        PeerRun r = PeerRun.of(60, "nbdinfo", "--list", "--json", uri("")).ok();
        assertThat(r.stdout()).contains("\"export-name\": \"disk\"").contains("\"export-name\": \"other\"")
                .contains("a memory disk").contains("second export");
    }

    @Test
    void mapShowsHolesAfterTrimAndWriteZeroes() throws Exception {
        ByteBuffer data = ByteBuffer.allocate(4 << 20);
        while (data.hasRemaining()) {
            data.put((byte) 0x5a);
        }
        device.write(data.flip(), 0);
        PeerRun before = PeerRun.of(60, "nbdinfo", "--map", uri("disk")).ok();
        assertThat(before.stdout()).containsPattern("0\\s+4194304\\s+0\\s+data");
        // Through the protocol (nbdsh: count first, then offset): trim [0, 1M), zero [2M, 3M).
        PeerRun.of(60, "nbdsh", "-u", uri("disk"), "-c", "h.trim(1048576, 0)", "-c", "h.zero(1048576, 2097152)").ok();
        PeerRun after = PeerRun.of(60, "nbdinfo", "--map", uri("disk")).ok();
        assertThat(after.stdout().lines().map(String::strip).map(l -> l.replaceAll("\\s+", " ")).toList())
                .containsExactly("0 1048576 3 hole,zero", "1048576 1048576 0 data", "2097152 1048576 3 hole,zero",
                        "3145728 1048576 0 data", "4194304 62914560 3 hole,zero");
    }
}

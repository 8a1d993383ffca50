package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** qemu-img info/convert/compare and qemu-io pattern write/verify against our export. */
class QemuIT {

    private static final int SIZE = 64 << 20;

    @TempDir
    Path dir;
    private NbdServer server;
    private String uri;

    @BeforeEach
    void start() throws Exception {
        Peers.require("qemu-img", "qemu-utils");
        Peers.require("qemu-io", "qemu-utils");
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("disk", MemoryDevice.create("disk", SIZE), "qemu test disk");
        server.start();
        uri = "nbd://127.0.0.1:" + server.address().getPort() + "/disk";
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    @Test
    void infoReportsSizeAndFormat() throws Exception {
        PeerRun r = PeerRun.of(60, "qemu-img", "info", "--output=json", uri).ok();
        assertThat(r.stdout()).contains("\"virtual-size\": " + SIZE).contains("\"format\": \"raw\"");
    }

    @Test
    void convertIntoTheExportThenCompareIsIdentical() throws Exception {
        Path image = dir.resolve("image.raw");
        byte[] data = new byte[SIZE];
        Random random = Seeds.random("QemuIT.convert");
        for (int off = 0; off < SIZE; off += 1 << 20) {
            if ((off >> 20) % 3 != 1) { // leave every third MiB zero so qemu sees holes
                byte[] block = new byte[1 << 20];
                random.nextBytes(block);
                System.arraycopy(block, 0, data, off, block.length);
            }
        }
        Files.write(image, data);
        PeerRun.of(120, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", image.toString(), uri).ok();
        PeerRun same = PeerRun.of(120, "qemu-img", "compare", "-f", "raw", "-F", "raw", image.toString(), uri);
        assertThat(same.exit()).as(same.toString()).isZero();
        assertThat(same.stdout()).contains("Images are identical");
        Path back = dir.resolve("back.raw");
        PeerRun.of(120, "qemu-img", "convert", "-f", "raw", "-O", "raw", uri, back.toString()).ok();
        assertThat(Files.readAllBytes(back)).isEqualTo(data);
        // One changed byte is found by compare.
        PeerRun.of(60, "qemu-io", "-f", "raw", "-c", "write -P 0x11 4096 512", uri).ok();
        PeerRun differ = PeerRun.of(120, "qemu-img", "compare", "-f", "raw", "-F", "raw", image.toString(), uri);
        assertThat(differ.exit()).as(differ.toString()).isEqualTo(1);
    }

    @Test
    void qemuIoPatternWritesVerify() throws Exception {
        PeerRun.of(60, "qemu-io", "-f", "raw",
                "-c", "write -P 0xab 0 1M",
                "-c", "write -P 0xcd 1M 1M",
                "-c", "write -z 2M 1M",
                "-c", "write -P 0xef -f 3M 64k",
                "-c", "discard 5M 1M",
                "-c", "flush",
                uri).ok();
        PeerRun verify = PeerRun.of(60, "qemu-io", "-f", "raw",
                "-c", "read -P 0xab 0 1M",
                "-c", "read -P 0xcd 1M 1M",
                "-c", "read -P 0 2M 1M",
                "-c", "read -P 0xef 3M 64k",
                "-c", "read -P 0 5M 1M",
                uri).ok();
        assertThat(verify.stdout()).doesNotContain("Pattern verification failed");
        assertThat(verify.stdout() + verify.stderr()).doesNotContainIgnoringCase("error");
        PeerRun map = PeerRun.of(60, "qemu-img", "map", "--output=json", uri).ok();
        assertThat(map.stdout()).contains("\"zero\": true").contains("\"data\": true");
    }
}

package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Runs src/test/resources/nbd/exercise.py under nbdsh (libnbd's Python shell): every command
 * and flag, and the errno a client sees for ENOSPC, EPERM and out-of-range requests.
 */
class NbdShIT {

    @Test
    void everyCommandAndFlagAndErrnoSeenByLibnbd() throws Exception {
        Peers.require("nbdsh", "libnbd-bin");
        if (!java.nio.file.Files.exists(Path.of("/usr/lib/python3/dist-packages/nbd.py"))) {
            Peers.missing("python module nbd (install Debian package python3-libnbd)");
        }
        Path script = Path.of(NbdShIT.class.getResource("/nbd/exercise.py").toURI());
        MemoryDevice disk = MemoryDevice.create("disk", 16 << 20);
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", disk, "rw");
            server.addExport("full", TestDevices.full(MemoryDevice.create(1 << 20)), "always full");
            server.addExport("ro", TestDevices.readOnly(MemoryDevice.create(1 << 20)), "read-only");
            server.start();
            String base = "nbd://127.0.0.1:" + server.address().getPort() + "/";
            PeerRun r = PeerRun.of(120, Map.of("NBD_RW", base + "disk", "NBD_FULL", base + "full", "NBD_RO", base + "ro"),
                    List.of("nbdsh", "-c", "exec(open('" + script + "').read())"));
            assertThat(r.exit()).as(r.toString()).isZero();
            assertThat(r.stdout()).contains("exercise.py: OK");
            NbdServer.Stats stats = server.stats();
            assertThat(stats.exports().get("full").errors()).containsEntry("ENOSPC", 2L);
            assertThat(stats.exports().get("ro").errors()).containsEntry("EPERM", 3L);
            assertThat(stats.exports().get("disk").writes()).isGreaterThan(0);
        }
    }
}

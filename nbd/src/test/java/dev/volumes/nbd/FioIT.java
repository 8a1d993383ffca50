package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** fio's nbd engine (libnbd) writing and verifying with crc32c against our server. */
class FioIT {

    @Test
    void randomWritesVerifyWithCrc32c() throws Exception {
        Peers.require("fio", "fio");
        PeerRun help = PeerRun.of(60, "fio", "--enghelp");
        if (!help.stdout().contains("nbd")) {
            Peers.missing("fio built with the nbd ioengine");
        }
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", MemoryDevice.create("disk", 128 << 20), null);
            server.start();
            String uri = "nbd://127.0.0.1:" + server.address().getPort() + "/disk";
            PeerRun r = PeerRun.of(300, "fio", "--name=verify", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
                    "--bs=4k", "--size=64m", "--iodepth=32", "--verify=crc32c", "--verify_fatal=1",
                    "--do_verify=1", "--randrepeat=1", "--verify_state_save=0", "--output-format=normal").ok();
            assertThat(r.stdout()).contains("err= 0");
            assertThat(r.stdout() + r.stderr()).doesNotContain("verify: bad");
            PeerRun mixed = PeerRun.of(300, "fio", "--name=mixed", "--ioengine=nbd", "--uri=" + uri, "--rw=randrw",
                    "--bs=64k", "--size=64m", "--offset=64m", "--iodepth=8", "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0",
                    "--numjobs=1").ok();
            assertThat(mixed.stdout()).contains("err= 0");
        }
    }
}

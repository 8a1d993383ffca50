package dev.volumes.nbd;

import dev.volumes.device.Device;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;

/** The device conformance suite over our client talking to {@code nbdkit memory} (one per device). */
class NbdkitMemoryConformanceIT extends DeviceConformanceTest {

    private final List<NbdPeer> peers = new ArrayList<>();

    @AfterEach
    void stopPeers() throws InterruptedException {
        for (NbdPeer p : peers) {
            p.close();
        }
        peers.clear();
    }

    @Override
    protected Device create(long size) throws IOException {
        try {
            NbdPeer p = NbdPeer.nbdkit("memory", "size=" + size);
            peers.add(p);
            return p.client("").connections(4).open();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }
}

package dev.volumes.nbd;

import dev.volumes.device.Device;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** The device conformance suite over our client talking to {@code nbd-server} (Debian, simple replies only) serving a file. */
class NbdServerConformanceIT extends DeviceConformanceTest {

    @TempDir
    Path dir;

    private final List<NbdPeer> peers = new ArrayList<>();
    private final Map<Device, Path> files = new HashMap<>();
    private int count;

    @AfterEach
    void stopPeers() throws InterruptedException {
        for (NbdPeer p : peers) {
            p.close();
        }
        peers.clear();
    }

    private Device serve(Path file, boolean readOnly) throws IOException {
        try {
            NbdPeer p = NbdPeer.nbdServer(dir, file, readOnly);
            peers.add(p);
            Device d = p.client("disk").open();
            files.put(d, file);
            return d;
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    @Override
    protected Device create(long size) throws IOException {
        Path file = dir.resolve("disk" + (count++) + ".raw");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
        return serve(file, false);
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        return serve(files.get(closed), false);
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        Path file = dir.resolve("ro" + (count++) + ".raw");
        Files.write(file, content);
        return serve(file, true);
    }
}

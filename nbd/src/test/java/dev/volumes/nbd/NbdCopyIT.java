package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** nbdcopy round trip of 256 MiB of random data into and out of our server, 1 and 4 connections. */
class NbdCopyIT {

    private static final int SIZE = 256 << 20;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "connections={0}")
    @ValueSource(ints = {1, 4})
    void roundTripOfRandomDataKeepsEveryByte(int connections) throws Exception {
        Peers.require("nbdcopy", "libnbd-bin");
        String test = "NbdCopyIT.roundTrip" + connections;
        Random random = Seeds.random(test);
        Path source = dir.resolve("source.img");
        MessageDigest sourceSha = MessageDigest.getInstance("SHA-256");
        try (OutputStream out = Files.newOutputStream(source)) {
            byte[] block = new byte[1 << 20];
            for (int i = 0; i < SIZE / block.length; i++) {
                random.nextBytes(block);
                if (i % 16 == 3) {
                    java.util.Arrays.fill(block, (byte) 0); // some zero runs, so sparse paths are used too
                }
                sourceSha.update(block);
                out.write(block);
            }
        }
        MemoryDevice disk = MemoryDevice.create("disk", SIZE);
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("disk", disk, null);
            server.start();
            String uri = "nbd://127.0.0.1:" + server.address().getPort() + "/disk";
            String c = "--connections=" + connections;
            PeerRun.of(300, "nbdcopy", c, "--requests=16", source.toString(), uri).ok();
            MessageDigest deviceSha = MessageDigest.getInstance("SHA-256");
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            for (long off = 0; off < SIZE; off += buf.capacity()) {
                disk.read(buf.clear(), off);
                deviceSha.update(buf.flip());
            }
            Path back = dir.resolve("back.img");
            PeerRun.of(300, "nbdcopy", c, "--requests=16", uri, back.toString()).ok();
            String expected = HexFormat.of().formatHex(sourceSha.digest());
            String sha = PeerRun.of(120, "sha256sum", back.toString()).ok().stdout().split(" ")[0];
            assertThat(HexFormat.of().formatHex(deviceSha.digest())).as(Seeds.reproduceWith(test)).isEqualTo(expected);
            assertThat(sha).as(Seeds.reproduceWith(test)).isEqualTo(expected);
            assertThat(server.stats().exports().get("disk").totalConnections()).isGreaterThanOrEqualTo(connections);
        }
    }
}

package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.FaultInjector;
import dev.volumes.testkit.FaultInjector.Op;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link NbdDevice#abort}: an owner that abandons the device (the replica engine) stops it at
 * once — no reconnect, no journal replay, no re-sent request; requests waiting for a reply or for
 * a connection fail locally.
 */
@Timeout(120) // a hang guard, not a timing claim
class AbortTest {

    private final MemoryDevice disk = MemoryDevice.create("disk", 1 << 20);
    private final FaultInjector counted = FaultInjector.wrap(disk);
    private NbdServer server;
    private int port;

    private void startServer() throws IOException {
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", port)).build();
        server.addExport("disk", counted, null);
        server.start();
        port = server.address().getPort();
    }

    @AfterEach
    void stop() throws IOException {
        counted.releaseHangs();
        if (server != null) {
            server.close();
        }
    }

    private NbdDevice open() throws IOException {
        return NbdClient.builder().host("127.0.0.1").port(port).exportName("disk")
                .reconnectDeadline(Duration.ofMinutes(10)).open();
    }

    /**
     * A request waiting for a reconnect (the server is down) fails as soon as the device is
     * aborted; when the server is back nothing reaches it: no reconnect, no replay of the
     * journal's unflushed write.
     */
    @Test
    void anAbortedDeviceNeverReconnectsNorReplaysItsJournal() throws Exception {
        startServer();
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor(); NbdDevice d = open()) {
            d.write(ByteBuffer.wrap(new byte[4096]), 0); // acknowledged, unflushed: journaled
            assertThat(d.journal().entries()).isEqualTo(1);
            server.close(); // the connection drops; reconnects are refused until it is back
            Future<?> waiting = ex.submit(() -> {
                d.read(ByteBuffer.allocate(512), 0);
                return null;
            });
            d.abort("abandoned by the test");
            long before = counted.calls(Op.WRITE) + counted.calls(Op.READ);
            startServer(); // same port: an unaborted device would reconnect, replay and read now
            assertThatThrownBy(waiting::get).hasStackTraceContaining("aborted by its owner: abandoned by the test");
            assertThatThrownBy(() -> d.read(ByteBuffer.allocate(512), 0)).hasMessageContaining("aborted by its owner");
            assertThatThrownBy(() -> d.write(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class);
            assertThat(d.reconnects()).isZero();
            assertThat(d.replays()).isZero();
            assertThat(counted.calls(Op.WRITE) + counted.calls(Op.READ)).isEqualTo(before);
        }
    }

    /** A request whose reply has not come (the server's disk hangs) fails locally on abort. */
    @Test
    void aRequestWaitingForItsReplyFailsLocallyAndIsNotResent() throws Exception {
        startServer();
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor(); NbdDevice d = open()) {
            counted.on(Op.WRITE).times(1).hang();
            Future<?> hung = ex.submit(() -> {
                d.write(ByteBuffer.wrap(new byte[4096]), 8192);
                return null;
            });
            assertThat(counted.awaitHung(1, Duration.ofSeconds(60))).isTrue();
            d.abort("replaced");
            assertThatThrownBy(hung::get).hasStackTraceContaining("aborted by its owner: replaced");
            counted.releaseHangs();
            assertThat(d.reconnects()).isZero();
            assertThat(counted.calls(Op.WRITE)).as("the hung write only, never re-sent").isEqualTo(1);
        }
    }
}

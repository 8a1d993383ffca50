package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The SO_SNDBUF policy for accepted TCP connections ({@link NbdServer.Builder#tcpSendBuffer}). */
class SendBufferTest {

    @Test
    void aLoopbackClientGetsTheFixedSendBufferByDefault() throws Exception {
        assertThat(serverSideSendBuffer(NbdServer.builder())).isEqualTo(kernelValueFor(NbdServer.LOOPBACK_SEND_BUFFER));
    }

    @Test
    void anExplicitSizeAppliesToEveryClient() throws Exception {
        int size = 256 * 1024;
        assertThat(serverSideSendBuffer(NbdServer.builder().tcpSendBuffer(size))).isEqualTo(kernelValueFor(size));
    }

    @Test
    void zeroLeavesTheBufferToTheKernel() throws Exception {
        // What autotuning starts a loopback connection with depends on the kernel (2 MiB here); it
        // is not the value the server would have set.
        assertThat(serverSideSendBuffer(NbdServer.builder().tcpSendBuffer(0)))
                .isNotEqualTo(kernelValueFor(NbdServer.LOOPBACK_SEND_BUFFER));
    }

    @Test
    void remoteClientsKeepAutotuningUnlessASizeIsGiven() throws Exception {
        NbdServer auto = NbdServer.builder().build();
        InetSocketAddress remote = new InetSocketAddress(InetAddress.getByAddress(new byte[] {(byte) 192, 0, 2, 7}), 40000);
        InetSocketAddress ipv6Loopback = new InetSocketAddress(InetAddress.getByName("::1"), 40000);
        assertThat(auto.sendBufferFor(remote)).isZero();
        assertThat(auto.sendBufferFor(ipv6Loopback)).isEqualTo(NbdServer.LOOPBACK_SEND_BUFFER);
        assertThat(auto.sendBufferFor(InetSocketAddress.createUnresolved("example.invalid", 1))).isZero();
        assertThat(NbdServer.builder().tcpSendBuffer(1 << 20).build().sendBufferFor(remote)).isEqualTo(1 << 20);
    }

    @Test
    void aNegativeSizeIsRefused() {
        assertThatThrownBy(() -> NbdServer.builder().tcpSendBuffer(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("autotuning");
    }

    /** SO_SNDBUF of the server's side of a connection that finished its handshake. */
    private static int serverSideSendBuffer(NbdServer.Builder builder) throws Exception {
        CompletableFuture<SocketChannel> accepted = new CompletableFuture<>();
        try (NbdServer server = builder.listen(new InetSocketAddress("127.0.0.1", 0))
                .acceptHook(accepted::complete).build()) {
            server.addExport("d", MemoryDevice.create(1 << 20), null);
            server.start();
            try (RawClient c = new RawClient(server.address())) {
                c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
                c.go("d"); // the server applied its socket options before the handshake
                return accepted.get(30, TimeUnit.SECONDS).getOption(StandardSocketOptions.SO_SNDBUF);
            }
        }
    }

    /** What the kernel reports after SO_SNDBUF = {@code bytes} (some kernels report double). */
    private static int kernelValueFor(int bytes) throws IOException {
        try (SocketChannel probe = SocketChannel.open()) {
            probe.setOption(StandardSocketOptions.SO_SNDBUF, bytes);
            return probe.getOption(StandardSocketOptions.SO_SNDBUF);
        }
    }
}

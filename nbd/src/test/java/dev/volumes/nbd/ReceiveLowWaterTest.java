package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The receive low-water mark used for large payloads ({@link ReceiveLowWater}, {@link
 * ChannelTransport#readFully}): that the build grants what it needs, that the kernel honours it,
 * and that a payload read never stalls and leaves the socket as it found it.
 */
class ReceiveLowWaterTest {

    private ServerSocketChannel listener;
    private SocketChannel client;
    private SocketChannel server;

    @BeforeEach
    void connect() throws Exception {
        assumeTrue(System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux"), "Linux only");
        listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        client = SocketChannel.open(listener.getLocalAddress());
        server = listener.accept();
    }

    @AfterEach
    void close() throws Exception {
        for (var c : new java.io.Closeable[] {client, server, listener}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    void theBuildGrantsTheSocketDescriptorAndNativeAccess() {
        // The test JVM, the volumes jar and the bench scripts pass the same flags; without them the
        // server silently falls back to waking up per packet.
        assertThat(ReceiveLowWater.of(server)).as("SO_RCVLOWAT unavailable: is --add-exports java.base/sun.nio.ch given?")
                .isNotNull();
    }

    @Test
    void theSocketIsNotReadableUntilTheMarkHasArrived() throws Exception {
        ReceiveLowWater mark = ReceiveLowWater.of(server);
        assumeTrue(mark != null);
        mark.set(64 * 1024);
        assertThat(mark.current()).isEqualTo(64 * 1024);
        server.configureBlocking(false);
        try (Selector selector = Selector.open()) {
            server.register(selector, SelectionKey.OP_READ);
            write(new byte[1000]);
            assertThat(selector.select(300)).as("readable with 1000 of 65536 bytes").isZero();
            write(new byte[64 * 1024 - 1000]);
            assertThat(selector.select(10_000)).as("readable once the mark arrived").isEqualTo(1);
        }
    }

    @Test
    void aPayloadSentInPiecesArrivesWholeAndTheNextSmallMessageIsNotHeldBack() throws Exception {
        ChannelTransport transport = new ChannelTransport(server);
        byte[] payload = new byte[(1 << 20) + 123];
        new Random(7).nextBytes(payload);
        ByteBuffer got = ByteBuffer.allocateDirect(payload.length);
        ByteBuffer header = ByteBuffer.allocate(28);
        // A virtual thread reads, as the server's readers do: it waits through the JDK's poller.
        CompletableFuture<Void> reader = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                assertThat(transport.readFully(got)).isTrue();
                transport.write(ByteBuffer.wrap(new byte[] {1})); // acknowledge, like a reply
                assertThat(transport.readFully(header)).isTrue();
                reader.complete(null);
            } catch (Throwable e) {
                reader.completeExceptionally(e);
            }
        });
        for (int at = 0; at < payload.length; at += 100_000) { // pieces with pauses: short reads
            write(java.util.Arrays.copyOfRange(payload, at, Math.min(payload.length, at + 100_000)));
            Thread.sleep(2);
        }
        // Nothing more until the acknowledgement (queue depth 1): a mark left above the bytes
        // still owed, or not reset after the payload, would hold the next read back for ever.
        ByteBuffer ack = ByteBuffer.allocate(1);
        while (ack.hasRemaining()) {
            assertThat(client.read(ack)).isNotNegative();
        }
        write(new byte[28]);
        reader.get(30, TimeUnit.SECONDS);
        assertThat(got.flip()).isEqualTo(ByteBuffer.wrap(payload));
    }

    @Test
    void noMarkIsSetAfterTheChannelClosed() throws Exception {
        // Its descriptor number may already belong to another socket.
        ReceiveLowWater mark = ReceiveLowWater.of(server);
        assumeTrue(mark != null);
        mark.close();
        mark.set(64 * 1024);
        assertThat(mark.current()).isEqualTo(1);
        assertThat(server.isOpen()).isFalse();
    }

    @Test
    void theStreamEndingMidPayloadIsReported() throws Exception {
        ChannelTransport transport = new ChannelTransport(server);
        write(new byte[300_000]);
        client.close();
        assertThat(transport.readFully(ByteBuffer.allocateDirect(1 << 20))).isFalse();
    }

    private void write(byte[] bytes) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            client.write(b);
        }
    }
}

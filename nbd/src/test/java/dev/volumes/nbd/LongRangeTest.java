package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Write-zeroes and discard longer than 4 GiB: with compact headers (32-bit lengths) split into
 * pieces below 4 GiB, with extended headers sent as one request — unless the server refuses the
 * long one (EOVERFLOW, allowed by the spec), then split after all. What the server received is
 * recorded on the server side (a recording Device under our server, or a scripted server).
 */
class LongRangeTest {

    private static final long GIB = 1L << 30;
    private static final long SPLIT = NbdDevice.SPLIT;

    /** Records the write-zeroes and discard calls that reach the device. */
    static final class Recording extends ForwardingDevice {
        final List<long[]> zeroes = new CopyOnWriteArrayList<>();
        final List<long[]> discards = new CopyOnWriteArrayList<>();

        Recording(MemoryDevice d) {
            super(d);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
            zeroes.add(new long[] {offset, length});
            super.writeZeroes(offset, length, mayUnmap);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            discards.add(new long[] {offset, length});
            super.discard(offset, length);
        }
    }

    @Test
    void compactHeadersSplitBelowFourGibAndExtendedHeadersSendOneRequest() throws Exception {
        Recording device = new Recording(MemoryDevice.create("big", 10 * GIB));
        try (NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("big", device, null);
            server.start();
            long start = 4096;
            long length = 6 * GIB;
            for (boolean extended : new boolean[] {false, true}) {
                device.zeroes.clear();
                device.discards.clear();
                try (NbdDevice d = NbdClient.builder().port(server.address().getPort()).exportName("big")
                        .extendedHeaders(extended).open()) {
                    assertThat(d.session().extended()).isEqualTo(extended);
                    byte[] ones = new byte[65536];
                    Arrays.fill(ones, (byte) 1);
                    d.write(ByteBuffer.wrap(ones), 5 * GIB); // beyond 4 GiB, inside the range
                    d.writeZeroes(start, length, true);
                    ByteBuffer back = ByteBuffer.allocate(65536);
                    d.read(back, 5 * GIB);
                    assertThat(back.array()).containsOnly(0);
                    d.discard(start, length);
                }
                List<long[]> expected = extended ? List.of(new long[] {start, length})
                        : List.of(new long[] {start, SPLIT}, new long[] {start + SPLIT, length - SPLIT});
                assertThat(device.zeroes).as("extended %s", extended).containsExactlyInAnyOrderElementsOf(expected);
                assertThat(device.discards).as("extended %s", extended).containsExactlyInAnyOrderElementsOf(expected); // pieces run concurrently
            }
        }
    }

    @Test
    void anExtendedServerThatRefusesTheLongRequestWithEoverflowGetsItInPieces() throws Exception {
        List<long[]> seen = new CopyOnWriteArrayList<>(); // {type, offset, length}
        AtomicReference<Throwable> failure = new AtomicReference<>();
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress("127.0.0.1", 0));
            Thread server = Thread.ofVirtual().start(() -> {
                try (SocketChannel c = listener.accept()) {
                    script(c, seen);
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            try (NbdDevice d = NbdClient.builder().port(port).exportName("disk").open()) {
                assertThat(d.session().extended()).isTrue();
                d.writeZeroes(0, 6 * GIB, true);
            }
            server.join();
            assertThat(failure.get()).isNull();
        }
        assertThat(seen).containsExactly(new long[] {Wire.CMD_WRITE_ZEROES, 0, 6 * GIB},
                new long[] {Wire.CMD_WRITE_ZEROES, 0, SPLIT}, new long[] {Wire.CMD_WRITE_ZEROES, SPLIT, 6 * GIB - SPLIT},
                new long[] {Wire.CMD_DISC, 0, 0});
    }

    /**
     * An extended-headers server built from the server's own encoders and request decoder:
     * payload-free requests longer than 4 GiB get EOVERFLOW, the rest succeed; records each request.
     */
    private static void script(SocketChannel c, List<long[]> seen) throws IOException {
        write(c, HandshakeEncoder.greeting());
        read(c, 4);
        while (true) {
            ByteBuffer h = read(c, 16);
            int option = h.getInt(8);
            read(c, h.getInt(12));
            switch (option) {
                case Wire.OPT_EXTENDED_HEADERS -> write(c, HandshakeEncoder.ack(option));
                case Wire.OPT_SET_META_CONTEXT -> {
                    write(c, HandshakeEncoder.metaContext(option, 1, Wire.BASE_ALLOCATION));
                    write(c, HandshakeEncoder.ack(option));
                }
                case Wire.OPT_GO -> {
                    write(c, HandshakeEncoder.infoExport(option, 16 * GIB, Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_SEND_FLUSH
                            | Wire.TFLAG_SEND_WRITE_ZEROES | Wire.TFLAG_SEND_TRIM));
                    write(c, HandshakeEncoder.infoBlockSize(option, 1, 4096, 1 << 20));
                    write(c, HandshakeEncoder.ack(option));
                }
                default -> throw new IOException("unexpected option " + option);
            }
            if (option == Wire.OPT_GO) {
                break;
            }
        }
        RequestDecoder requests = new RequestDecoder(true);
        ReplyEncoder replies = new ReplyEncoder(ReplyEncoder.Style.EXTENDED);
        while (true) {
            RequestDecoder.Request r = requests.decode(read(c, 32));
            seen.add(new long[] {r.type(), r.offset(), r.length()});
            if (r.type() == Wire.CMD_DISC) {
                return;
            }
            write(c, r.length() > SPLIT ? replies.error(r.cookie(), r.offset(), Wire.EOVERFLOW, "too long for me")
                    : replies.ok(r.cookie(), r.offset()));
        }
    }

    private static ByteBuffer read(SocketChannel c, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new IOException("client closed after " + b.position() + " of " + n + " bytes");
            }
        }
        return b.flip();
    }

    private static void write(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            c.write(b);
        }
    }
}

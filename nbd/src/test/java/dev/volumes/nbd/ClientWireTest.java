package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Golden bytes of what the client sends (docs/nbd.md, "Client", "Negotiation"), captured by a
 * scripted server built from the server's own encoders, and decoded again with the server's own
 * {@link OptionDecoder}, {@link OptionRequest} and {@link RequestDecoder}: the shared codec checked
 * from both sides.
 */
class ClientWireTest {

    private static final String GOLDEN = ("00000003"
            + "49484156454f5054 0000000b 00000000"
            + "49484156454f5054 00000008 00000000"
            + "49484156454f5054 0000000a 0000001f"
            + "00000004 6469736b 00000001 0000000f 626173653a616c6c6f636174696f6e"
            + "49484156454f5054 00000007 0000000c"
            + "00000004 6469736b 0001 0003"
            + "25609513 0000 0000 0000000000000001 0000000000001000 00000200").replace(" ", "");

    @Test
    void goldenHandshakeAndRead() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress("127.0.0.1", 0));
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            AtomicReference<Throwable> serverFailure = new AtomicReference<>();
            Thread server = Thread.ofVirtual().start(() -> {
                try (SocketChannel c = listener.accept()) {
                    script(c, seen);
                } catch (Throwable t) {
                    serverFailure.set(t);
                }
            });
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            try (NbdDevice d = NbdClient.builder().host("127.0.0.1").port(port).exportName("disk").open()) {
                assertThat(d.session().structured()).isTrue();
                assertThat(d.session().extended()).isFalse();
                assertThat(d.session().metaContextId()).isEqualTo(5);
                assertThat(d.blockSizes().maximum()).isEqualTo(1 << 20);
                ByteBuffer b = ByteBuffer.allocate(512);
                d.read(b, 4096);
                assertThat(b.array()).containsOnly((byte) 0xab);
            }
            server.join();
            assertThat(serverFailure.get()).isNull();
            byte[] bytes = seen.toByteArray();
            assertThat(HexFormat.of().formatHex(bytes)).startsWith(GOLDEN);

            // The server's decoders read the same bytes, whole and one byte at a time.
            for (int step : new int[] {bytes.length, 1}) {
                OptionDecoder decoder = new OptionDecoder();
                List<Object> messages = new ArrayList<>();
                ByteBuffer in = ByteBuffer.wrap(bytes, 0, bytes.length - 28 - 28);
                while (in.hasRemaining()) {
                    ByteBuffer piece = in.slice(in.position(), Math.min(step, in.remaining()));
                    in.position(in.position() + piece.remaining());
                    OptionDecoder.Message m;
                    while ((m = decoder.decode(piece)) != null) {
                        messages.add(m instanceof OptionDecoder.RawOption raw ? OptionRequest.parse(raw) : m);
                    }
                }
                assertThat(messages).containsExactly(new OptionDecoder.ClientFlags(3),
                        new OptionRequest.ExtendedHeaders(), new OptionRequest.StructuredReply(),
                        new OptionRequest.MetaContext(true, "disk", List.of("base:allocation")),
                        new OptionRequest.Info(true, "disk", List.of(Wire.INFO_BLOCK_SIZE)));
            }
            RequestDecoder requests = new RequestDecoder(false);
            ByteBuffer tail = ByteBuffer.wrap(bytes, bytes.length - 56, 56);
            assertThat(requests.decode(tail)).isEqualTo(new RequestDecoder.Request(0, Wire.CMD_READ, 1, 4096, 512));
            assertThat(requests.decode(tail).type()).isEqualTo(Wire.CMD_DISC);
        }
    }

    /** Greeting, then answers built with the server's encoders; records everything the client sends. */
    private static void script(SocketChannel c, ByteArrayOutputStream seen) throws IOException {
        write(c, HandshakeEncoder.greeting());
        seen.write(read(c, 4));
        while (true) {
            byte[] header = read(c, 16);
            seen.write(header);
            ByteBuffer h = ByteBuffer.wrap(header);
            h.getLong();
            int option = h.getInt();
            byte[] data = read(c, h.getInt());
            seen.write(data);
            switch (option) {
                case Wire.OPT_EXTENDED_HEADERS -> write(c, HandshakeEncoder.error(option, Wire.REP_ERR_UNSUP, ""));
                case Wire.OPT_STRUCTURED_REPLY -> write(c, HandshakeEncoder.ack(option));
                case Wire.OPT_SET_META_CONTEXT -> {
                    write(c, HandshakeEncoder.metaContext(option, 5, Wire.BASE_ALLOCATION));
                    write(c, HandshakeEncoder.ack(option));
                }
                case Wire.OPT_GO -> {
                    write(c, HandshakeEncoder.infoExport(option, 1 << 20,
                            Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_SEND_FLUSH | Wire.TFLAG_SEND_FUA));
                    write(c, HandshakeEncoder.infoBlockSize(option, 1, 4096, 1 << 20));
                    write(c, HandshakeEncoder.ack(option));
                }
                default -> throw new IOException("unexpected option " + option);
            }
            if (option == Wire.OPT_GO) {
                break;
            }
        }
        byte[] request = read(c, 28);
        seen.write(request);
        ByteBuffer r = ByteBuffer.wrap(request);
        r.position(8);
        long cookie = r.getLong();
        ReplyEncoder replies = new ReplyEncoder(ReplyEncoder.Style.STRUCTURED);
        byte[] data = new byte[512];
        java.util.Arrays.fill(data, (byte) 0xab);
        write(c, replies.offsetDataHeader(Wire.REPLY_FLAG_DONE, cookie, 4096, 4096, 512));
        write(c, ByteBuffer.wrap(data));
        seen.write(read(c, 28)); // NBD_CMD_DISC
    }

    private static byte[] read(SocketChannel c, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new IOException("client closed after " + b.position() + " of " + n + " bytes");
            }
        }
        return b.array();
    }

    private static void write(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            c.write(b);
        }
    }
}

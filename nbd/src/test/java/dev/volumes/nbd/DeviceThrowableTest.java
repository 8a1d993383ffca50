package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A Device that throws an {@link Error} (not an IOException or RuntimeException) must cost the
 * client one EIO reply, nothing more: the connection keeps serving, its budget and buffers come
 * back, and the server still closes. Before the fix an inline request's Error killed the reader
 * thread without a reply, and the connection (and close()) waited forever.
 */
@Timeout(120) // a hang guard: before the fix the first request never got a reply
class DeviceThrowableTest {

    private static final int BAD = 4096; // [0, BAD) fails, everything else works

    /** Throws {@code error.get()} for reads, writes and extent queries touching [0, 4096). */
    static final class ThrowingDevice extends ForwardingDevice {
        private final Supplier<Throwable> error;

        ThrowingDevice(Device d, Supplier<Throwable> error) {
            super(d);
            this.error = error;
        }

        private void check(long offset) {
            if (offset < BAD) {
                Throwable t = error.get();
                if (t instanceof Error e) {
                    throw e;
                }
                throw (RuntimeException) t;
            }
        }

        @Override
        public void read(ByteBuffer dst, long offset) throws IOException {
            check(offset);
            super.read(dst, offset);
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            check(offset);
            super.write(src, offset);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            check(offset);
            super.write(src, offset, flag);
        }

        @Override
        public List<Extent> extents(long offset, long length) throws IOException {
            check(offset);
            return super.extents(offset, length);
        }
    }

    private static int recurse(int depth) {
        return recurse(depth + 1) + 1;
    }

    /** A real stack overflow (deep recursion), caught and handed over like any other Error. */
    private static Throwable stackOverflow() {
        try {
            recurse(0);
            throw new AssertionError("unreachable");
        } catch (StackOverflowError e) {
            return e;
        }
    }

    @Test
    void anAssertionErrorFromTheDeviceIsAnEioReplyOnEveryPath() throws Exception {
        for (boolean platform : new boolean[] {true, false}) {
            exercise(platform, () -> new AssertionError("device invariant broken (injected)"), "AssertionError");
        }
    }

    @Test
    void aStackOverflowInTheDeviceIsAnEioReplyOnEveryPath() throws Exception {
        for (boolean platform : new boolean[] {true, false}) {
            exercise(platform, DeviceThrowableTest::stackOverflow, "StackOverflowError");
        }
    }

    @Test
    void aLinkageErrorIsAnEioReplyWithSimpleRepliesToo() throws Exception {
        ThrowingDevice device = new ThrowingDevice(MemoryDevice.create(1 << 20),
                () -> new NoClassDefFoundError("dev/volumes/Missing (injected)"));
        NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.addExport("d", device, null);
        server.start();
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.go("d");
            c.request(0, Wire.CMD_WRITE, 1, 0, 512, new byte[512]); // inline
            assertThat(c.simple()).containsExactly(Wire.EIO, 1);
            c.request(0, Wire.CMD_READ, 2, 0, 512, null);
            assertThat(c.simple()).containsExactly(Wire.EIO, 2);
            c.request(0, Wire.CMD_WRITE, 3, BAD, 512, new byte[512]);
            assertThat(c.simple()).containsExactly(0, 3);
        }
        closeWithin(server);
    }

    private static void exercise(boolean platform, Supplier<Throwable> error, String name) throws Exception {
        ThrowingDevice device = new ThrowingDevice(MemoryDevice.create(1 << 20), error);
        NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0))
                .platformReader(platform).build();
        server.addExport("d", device, null);
        server.start();
        String as = name + (platform ? " with a platform reader" : " with virtual readers only");
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ACK);
            c.go("d");
            byte[] block = new byte[4096];
            // 1: small write, nothing else in flight: runs inline on the reader
            c.request(0, Wire.CMD_WRITE, 1, 0, block.length, block);
            expectEio(c, 1, name, as);
            // 2: FUA write: never inline, runs on a new virtual thread
            c.request(Wire.CMD_FLAG_FUA, Wire.CMD_WRITE, 2, 0, block.length, block);
            expectEio(c, 2, name, as);
            // 3: small read (inline), 4: a 256 KiB read (too large for inline, asks for extents)
            c.request(0, Wire.CMD_READ, 3, 0, 4096, null);
            expectEio(c, 3, name, as);
            c.request(0, Wire.CMD_READ, 4, 0, 256 << 10, null);
            expectEio(c, 4, name, as);
            // The same connection goes on serving.
            c.request(0, Wire.CMD_WRITE, 5, 8192, 4, new byte[] {1, 2, 3, 4});
            assertThat(c.simple()).as(as).containsExactly(0, 5);
            c.request(Wire.CMD_FLAG_DF, Wire.CMD_READ, 6, 8192, 4, null);
            RawClient.Chunk data = c.chunk();
            assertThat(data.type()).as(as).isEqualTo(Wire.REPLY_TYPE_OFFSET_DATA);
            assertThat(java.util.Arrays.copyOfRange(data.payload(), 8, 12)).as(as).containsExactly(1, 2, 3, 4);
            assertThat(server.stats().exports().get("d").errors()).as(as).containsEntry("EIO", 4L);
            // A reply goes out before its request releases its slot and budget: wait for that.
            for (int i = 0; i < 1000 && (server.stats().inFlightBytes() > 0
                    || server.stats().perConnection().getFirst().inFlight() > 0); i++) {
                Thread.sleep(10);
            }
            assertThat(server.stats().perConnection().getFirst().inFlight()).as(as).isZero();
            assertThat(server.stats().inFlightBytes()).as(as + ": budgets released").isZero();
        }
        // Another client is served too, and close() returns.
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.go("d");
            c.request(0, Wire.CMD_FLUSH, 1, 0, 0, null);
            assertThat(c.simple()).as(as).containsExactly(0, 1);
        }
        closeWithin(server);
    }

    private static void expectEio(RawClient c, long cookie, String name, String as) throws IOException {
        RawClient.Chunk error = c.chunk();
        assertThat(error.cookie()).as(as).isEqualTo(cookie);
        assertThat(error.type()).as(as).isEqualTo(Wire.REPLY_TYPE_ERROR);
        assertThat(error.flags()).as(as).isEqualTo(Wire.REPLY_FLAG_DONE);
        ByteBuffer e = ByteBuffer.wrap(error.payload());
        assertThat(e.getInt()).as(as).isEqualTo(Wire.EIO);
        byte[] message = new byte[e.getShort()];
        e.get(message);
        assertThat(new String(message, StandardCharsets.UTF_8)).as(as).contains(name).contains("'d'");
    }

    private static void closeWithin(NbdServer server) throws Exception {
        CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> {
            try {
                server.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        closing.get(60, TimeUnit.SECONDS); // a hang guard, not a timing claim
        assertThat(server.stats().connections()).isZero();
    }
}

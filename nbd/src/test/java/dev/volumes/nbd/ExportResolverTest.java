package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.Device;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.device.WriteFlag;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The per-connection export hook: resolution, refusal, precedence, onClose exactly once, disconnect. */
class ExportResolverTest {

    private NbdServer server;
    private final List<String> asked = new CopyOnWriteArrayList<>();
    private final AtomicInteger closes = new AtomicInteger();
    private final AtomicReference<ClientConnection> lastConnection = new AtomicReference<>();
    private final List<String> events = new CopyOnWriteArrayList<>();

    private NbdServer start(ExportResolver resolver) throws IOException {
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).exportResolver(resolver).build();
        server.addExport("static", MemoryDevice.create(1 << 20), "static one");
        server.start();
        return server;
    }

    /** Serves "vol-*" from a fresh MemoryDevice (or {@code device}), refuses "secret*", else unknown. */
    private ExportResolver resolver(Device device) {
        return (name, connection) -> {
            asked.add(name);
            lastConnection.set(connection);
            if (name.startsWith("secret")) {
                throw new ExportRefusedException("volume " + name + " is fenced on this node");
            }
            if (!name.startsWith("vol-")) {
                return Optional.empty();
            }
            Device d = device != null ? device : MemoryDevice.create(1 << 20);
            return Optional.of(new ResolvedExport(name, "resolved " + name, d, () -> {
                events.add("close");
                closes.incrementAndGet();
            }));
        };
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 1000 && !condition.getAsBoolean(); i++) {
            Thread.sleep(10);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

    @Test
    void resolvedExportIsServedWithoutMultiConnAndClosedOnceAtDisconnect() throws Exception {
        start(resolver(null));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            int flags = c.go("vol-1");
            assertThat(flags & Wire.TFLAG_CAN_MULTI_CONN).isZero();
            assertThat(flags & Wire.TFLAG_SEND_FLUSH).isNotZero();
            byte[] data = "hello resolved".getBytes(StandardCharsets.UTF_8);
            c.request(0, Wire.CMD_WRITE, 7, 0, data.length, data);
            assertThat(c.simple()).containsExactly(0, 7);
            c.request(0, Wire.CMD_READ, 8, 0, data.length, null);
            assertThat(c.simple()).containsExactly(0, 8);
            assertThat(c.read(data.length).array()).isEqualTo(data);
            assertThat(server.stats().exports().get("vol-1").writes()).isEqualTo(1);
            assertThat(closes.get()).isZero();
            ClientConnection cc = lastConnection.get();
            assertThat(cc.remoteAddress()).isInstanceOf(InetSocketAddress.class);
            assertThat(cc.tlsPeer()).isEmpty();
            c.request(0, Wire.CMD_DISC, 9, 0, 0, null);
            assertThat(c.closedByServer()).isTrue();
        }
        await(() -> closes.get() == 1);
        await(() -> server.stats().connections() == 0);
        assertThat(closes.get()).isEqualTo(1);
        assertThat(server.stats().exports()).doesNotContainKey("vol-1");
    }

    @Test
    void staticExportsTakePrecedenceAndUnknownNamesAreUnknown() throws Exception {
        start(resolver(null));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            int flags = c.go("static");
            assertThat(flags & Wire.TFLAG_CAN_MULTI_CONN).isNotZero();
        }
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.option(Wire.OPT_GO, RawClient.infoData("nothing", Wire.INFO_BLOCK_SIZE));
            assertThat(c.reply().type()).isEqualTo(Wire.REP_ERR_UNKNOWN);
        }
        assertThat(asked).containsExactly("nothing");
    }

    @Test
    void refusalIsPolicyErrorCarryingTheMessage() throws Exception {
        start(resolver(null));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.option(Wire.OPT_GO, RawClient.infoData("secret-7", Wire.INFO_BLOCK_SIZE));
            RawClient.OptionReply r = c.reply();
            assertThat(r.type()).isEqualTo(Wire.REP_ERR_POLICY);
            assertThat(new String(r.data(), StandardCharsets.UTF_8)).isEqualTo("volume secret-7 is fenced on this node");
            // the connection stays usable: a later GO of a servable name works
            assertThat(c.go("vol-2")).isNotEqualTo(-1);
        }
        await(() -> closes.get() == 1);
    }

    @Test
    void infoDoesNotLeakTheResolution() throws Exception {
        start(resolver(null));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            for (int i = 0; i < 3; i++) {
                c.option(Wire.OPT_INFO, RawClient.infoData("vol-info", Wire.INFO_DESCRIPTION));
                RawClient.OptionReply r;
                do {
                    r = c.reply();
                } while (r.type() == Wire.REP_INFO);
                assertThat(r.type()).isEqualTo(Wire.REP_ACK);
                assertThat(closes.get()).isEqualTo(i + 1); // closed before the ACK was sent
            }
            assertThat(server.stats().exports()).doesNotContainKey("vol-info");
        }
    }

    @Test
    void exportNameOptionResolvesToo() throws Exception {
        start(resolver(null));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.option(Wire.OPT_EXPORT_NAME, "vol-old".getBytes(StandardCharsets.UTF_8));
            ByteBuffer reply = c.read(10);
            assertThat(reply.getLong()).isEqualTo(1 << 20);
            assertThat(reply.getShort() & Wire.TFLAG_CAN_MULTI_CONN).isZero();
        }
        await(() -> closes.get() == 1);
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.option(Wire.OPT_EXPORT_NAME, "secret".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue(); // EXPORT_NAME cannot carry an error
        }
    }

    /** Writes block until released; records when each write finished. */
    final class GateDevice extends ForwardingDevice {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger writes = new AtomicInteger();

        GateDevice(Device d) {
            super(d);
        }

        @Override
        public void write(ByteBuffer src, long offset, WriteFlag flag) throws IOException {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            super.write(src, offset, flag);
            writes.incrementAndGet();
            events.add("write-done");
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            write(src, offset, WriteFlag.NONE);
        }
    }

    @Test
    void disconnectClosesAtOnceStartsNothingNewAndClosesAfterInFlightFinished() throws Exception {
        GateDevice device = new GateDevice(MemoryDevice.create(1 << 20));
        start(resolver(device));
        try (RawClient c = new RawClient(server.address())) {
            c.greet(ServerProtocolTest.FIXED_NO_ZEROES);
            c.go("vol-gate");
            c.request(0, Wire.CMD_WRITE, 1, 0, 4096, new byte[4096]);
            assertThat(device.entered.await(10, TimeUnit.SECONDS)).isTrue();
            lastConnection.get().disconnect("lease lost");
            assertThat(c.closedByServer()).isTrue(); // closed at once, while the write still runs
            assertThat(closes.get()).isZero(); // onClose waits for the in-flight write
            device.release.countDown();
            await(() -> closes.get() == 1);
            assertThat(events).containsExactly("write-done", "close");
            assertThat(device.writes.get()).isEqualTo(1);
            lastConnection.get().disconnect("again"); // idempotent
        }
        await(() -> server.stats().connections() == 0);
        assertThat(closes.get()).isEqualTo(1);
    }
}

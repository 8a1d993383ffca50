package dev.volumes.nbd;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

/**
 * Jazzer fuzz targets for the bytes a server controls: handshake replies and transmission replies
 * as the client decodes them. The seed corpus under
 * src/test/resources/dev/volumes/nbd/ClientFuzzTestInputs/ is replayed in every test run; with
 * JAZZER_FUZZ=1 it fuzzes. Properties: the handshake ends with a session or an
 * {@link IOException}, nothing else; the reply reader never fails with a runtime exception (which
 * it would report as "client reader failed"), never hangs, and every request is completed.
 */
class ClientFuzzTest {

    private static final ClientHandshake.Target TARGET =
            new ClientHandshake.Target("127.0.0.1", 10809, null, "disk", null, true);

    @FuzzTest(maxDuration = "30s")
    void handshakeReplies(byte[] input) {
        try {
            ClientHandshake.negotiate(TARGET, new BytesTransport(input, null));
        } catch (IOException expected) {
            // refused, truncated or malformed: a clean failure
        }
    }

    @FuzzTest(maxDuration = "30s")
    void transmissionReplies(byte[] input) throws Exception {
        int mode = input.length == 0 ? 0 : input[0] & 3;
        CountDownLatch go = new CountDownLatch(1);
        BytesTransport transport = new BytesTransport(input, go);
        ClientHandshake.Session session = new ClientHandshake.Session(transport, new WireInput(transport), 1 << 20,
                Wire.TFLAG_HAS_FLAGS | Wire.TFLAG_SEND_FLUSH, 1, 4096, 1 << 20, true, mode >= 1, mode >= 2, 1, true);
        ClientWire c = new ClientWire(session, "fuzz", new ClientWire.Listener() {
            @Override
            public void acknowledged(ClientWire connection, ClientWire.Pending request) {}

            @Override
            public void dropped(ClientWire connection, IOException cause) {}
        });
        List<ClientWire.Pending> sent = new ArrayList<>();
        sent.add(c.submit(Wire.CMD_READ, 0, 0, 4096, null, ByteBuffer.allocate(4096)));
        sent.add(c.submit(Wire.CMD_WRITE, 0, 8192, 16, ByteBuffer.allocate(16), null));
        sent.add(c.submit(Wire.CMD_BLOCK_STATUS, 0, 0, 1 << 20, null, null));
        sent.add(c.submit(Wire.CMD_READ, 0, 4096, 512, null, ByteBuffer.allocate(512)));
        go.countDown();
        c.joinReader(); // the input is finite: the reader must reach its end
        for (ClientWire.Pending p : sent) {
            try {
                p.future.get();
            } catch (ExecutionException e) {
                if (e.getCause().getMessage() != null && e.getCause().getMessage().contains("client reader failed")) {
                    throw new AssertionError("reply decoding threw a runtime exception", e.getCause().getCause());
                }
            }
        }
    }
}

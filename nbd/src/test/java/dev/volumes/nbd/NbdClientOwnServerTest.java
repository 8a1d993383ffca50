package dev.volumes.nbd;

import dev.volumes.device.Device;
import dev.volumes.device.MemoryDevice;
import dev.volumes.testkit.DeviceConformanceTest;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The device conformance suite over our client talking to our own server (in-process, loopback). */
class NbdClientOwnServerTest extends DeviceConformanceTest {

    private NbdServer server;
    private int exports;
    private final Map<Device, String> exportOf = new HashMap<>();

    @BeforeEach
    void startServer() throws IOException {
        server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build();
        server.start();
    }

    @AfterEach
    void stopServer() throws IOException {
        server.close();
    }

    private NbdDevice connect(String export) throws IOException {
        NbdDevice d = NbdClient.builder().host("127.0.0.1").port(server.address().getPort()).exportName(export)
                .connections(2).open();
        exportOf.put(d, export);
        return d;
    }

    @Override
    protected Device create(long size) throws IOException {
        String name = "disk" + (exports++);
        server.addExport(name, MemoryDevice.create(name, size), "");
        return connect(name);
    }

    @Override
    protected Device reopen(Device closed) throws IOException {
        return connect(exportOf.get(closed));
    }

    @Override
    protected Device createReadOnly(byte[] content) throws IOException {
        String name = "ro" + (exports++);
        MemoryDevice m = MemoryDevice.create(name, content.length);
        m.write(java.nio.ByteBuffer.wrap(content), 0);
        server.addExport(name, TestDevices.readOnly(m), "");
        return connect(name);
    }
}

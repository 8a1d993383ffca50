import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.device.MemoryDevice;
import dev.volumes.nbd.NbdServer;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * Serves one export named "disk" until killed, for bench/nbd-fio.sh:
 * {@code java -cp CLASSES bench/NbdServe.java memory SIZE PORT} or {@code ... file PATH PORT};
 * {@code -Dbench.tcpSendBuffer=BYTES} sets {@code NbdServer.Builder.tcpSendBuffer} (0 = autotuning).
 */
public class NbdServe {
    public static void main(String[] args) throws Exception {
        Device device = args[0].equals("memory")
                ? MemoryDevice.create("bench", Long.parseLong(args[1]))
                : FileDevice.open(Path.of(args[1]));
        NbdServer.Builder builder = NbdServer.builder()
                .listen(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[2])));
        Integer sendBuffer = Integer.getInteger("bench.tcpSendBuffer");
        if (sendBuffer != null) { // A/B against the default loopback policy; 0 = kernel autotuning
            builder.tcpSendBuffer(sendBuffer);
        }
        NbdServer server = builder.build();
        server.addExport("disk", device, "benchmark");
        server.start();
        System.out.println("ready " + server.address());
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
                device.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
        }));
        Thread.currentThread().join();
    }
}

package dev.volumes.oci;

import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Child process of {@link OverlayCrashIT}: writes numbered 4 KiB slots into an overlay, syncs after
 * every few writes and prints {@code SYNCED n} once writes {@code 0..n-1} are durable, until the
 * parent kills it with SIGKILL.
 */
public final class OverlayCrashChild {

    static final int SLOT = 4096;
    static final int SLOTS = 1024;

    /** The slot write {@code i} goes to (distinct for i < SLOTS). */
    static long slotOffset(int i) {
        return (long) ((i * 389) % SLOTS) * SLOT;
    }

    static byte pattern(int i) {
        return (byte) (i % 251 + 1);
    }

    public static void main(String[] args) throws Exception {
        RegistryClient client = RegistryClient.builder(URI.create(args[0])).useDockerConfig(false).build();
        Overlay o = Overlay.open(ImageDevice.open(client, ImageRef.parse(args[1]), ImageOptions.defaults()), Path.of(args[2]));
        byte[] b = new byte[SLOT];
        for (int i = 0; i < SLOTS; i++) {
            Arrays.fill(b, pattern(i));
            o.write(ByteBuffer.wrap(b), slotOffset(i));
            if (i % 7 == 6) {
                o.sync();
                System.out.println("SYNCED " + (i + 1));
                System.out.flush();
            }
        }
        o.sync();
        System.out.println("SYNCED " + SLOTS);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}

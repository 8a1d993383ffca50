package dev.volumes.oci;

import dev.volumes.device.Device;
import dev.volumes.device.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.BitSet;

/** Entry points: freeze a {@link Device} into a registry as a volumes image (docs/oci.md). */
public final class OciImages {

    private OciImages() {}

    /**
     * Freezes {@code device} into an image tagged {@code ref}. Only chunk windows that the device's
     * {@link Device#extents extents} report as data are read; windows that turn out all zero are
     * holes too. Data chunks are hashed and uploaded in parallel, each distinct blob once, and blobs
     * the registry already has are not sent again. The device must not change during the call.
     *
     * @return the pushed manifest (by digest) and counts
     * @throws IOException if reading the device or any registry request fails; a partially pushed
     *     image leaves only unreferenced blobs, never a manifest
     */
    public static FreezeResult freeze(Device device, RegistryClient client, ImageRef ref, FreezeOptions options)
            throws IOException {
        long size = device.size();
        int cs = options.chunkSize();
        int count = (int) ImageConfig.chunkCount(size, cs);
        BitSet data = new BitSet(count);
        long pos = 0;
        while (pos < size) { // ask in slices so a huge sparse map never has to fit at once
            long len = Math.min(size - pos, 1L << 40);
            for (Extent e : device.extents(pos, len)) {
                if (!e.type().readsAsZeros()) {
                    data.set((int) (e.offset() / cs), (int) ((e.end() - 1) / cs) + 1);
                }
            }
            pos += len;
        }
        int[] indexes = data.stream().toArray();
        Digest[] chunks = new Digest[count];
        ChunkPusher pusher = new ChunkPusher(client, ref.repository(), options);
        pusher.push(indexes, size, cs, (index, buf, length) -> device.read(ByteBuffer.wrap(buf, 0, length),
                (long) index * cs), chunks);
        ImageConfig config = new ImageConfig(size, cs, Arrays.asList(chunks));
        return pusher.publish(ref, config, options.source() != null ? options.source() : device.name());
    }
}

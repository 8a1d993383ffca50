package dev.volumes.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.TreeSet;

/**
 * The overlay record {@code overlay.json} (docs/oci.md section 3): base image, registry and dirty
 * chunks, replaced atomically (write a temporary file, fsync, rename, fsync the directory).
 */
final class OverlayRecord {

    private static final ObjectMapper JSON = new ObjectMapper();

    private OverlayRecord() {}

    /** Durably replaces {@code dir/overlay.json} with {@code base} and {@code dirty}. */
    static void write(Path dir, ImageDevice base, Set<Integer> dirty) throws IOException {
        ObjectNode s = JSON.createObjectNode();
        s.put("version", 1);
        s.put("registry", base.client().host());
        s.put("base", base.ref().toString());
        s.put("size", base.config().size());
        s.put("chunkSize", base.config().chunkSize());
        var arr = s.putArray("dirty");
        new TreeSet<>(dirty).forEach(arr::add);
        Path tmp = dir.resolve("overlay.json.tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(JSON.writeValueAsBytes(s));
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, dir.resolve("overlay.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    /** Reads and checks a record; {@link IOException} naming the file if it is not a version 1 record. */
    static JsonNode read(Path state) throws IOException {
        JsonNode s;
        try {
            s = JSON.readTree(Files.readAllBytes(state));
        } catch (IOException e) {
            throw new IOException("cannot read overlay record " + state + ": " + e.getMessage(), e);
        }
        if (s == null || s.path("version").asInt() != 1 || !s.path("base").isTextual() || !s.path("dirty").isArray()) {
            throw new IOException("overlay record " + state + " is not a version 1 overlay record");
        }
        return s;
    }
}

package dev.volumes.s3;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The metadata object of an {@link S3Device} ({@code PREFIX + "meta"}), a small UTF-8 text
 * documented in docs/s3.md: a magic first line, {@code key=value} lines and a last line
 * {@code crc32c=XXXXXXXX} (hex CRC32C of every byte before that line).
 *
 * @param size device size in bytes
 * @param chunkSize bytes per chunk object, a power of two
 * @param epoch writer epoch, incremented by every open for writing
 * @param writer id of the writer holding the device, or "-" when none holds it
 */
record DeviceMeta(long size, int chunkSize, long epoch, String writer) {

    static final String MAGIC = "volumes-s3-device";
    static final int FORMAT = 1;
    static final String NO_WRITER = "-";

    DeviceMeta {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        if (chunkSize < 4096 || Integer.bitCount(chunkSize) != 1 || chunkSize > (64 << 20)) {
            throw new IllegalArgumentException("chunk size must be a power of two in [4 KiB, 64 MiB]: " + chunkSize);
        }
        if (epoch < 0 || writer == null || writer.isEmpty() || !writer.matches("[-0-9a-f]+")) {
            throw new IllegalArgumentException("bad epoch/writer " + epoch + "/" + writer);
        }
    }

    DeviceMeta withSize(long newSize) {
        return new DeviceMeta(newSize, chunkSize, epoch, writer);
    }

    byte[] encode() {
        String body = MAGIC + "\n" + "format=" + FORMAT + "\n" + "size=" + size + "\n" + "chunk-size=" + chunkSize + "\n"
                + "epoch=" + epoch + "\n" + "writer=" + writer + "\n";
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        CRC32C c = new CRC32C();
        c.update(b);
        return (body + "crc32c=" + String.format("%08x", c.getValue()) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Parses and verifies; {@code where} names the object in errors. */
    static DeviceMeta decode(byte[] bytes, String where) throws IOException {
        String text = new String(bytes, StandardCharsets.UTF_8);
        int crcAt = text.lastIndexOf("crc32c=");
        if (!text.startsWith(MAGIC + "\n") || crcAt < 0 || !text.endsWith("\n")) {
            throw new IOException(where + " is not a volumes S3 device metadata object (" + bytes.length + " bytes)");
        }
        CRC32C c = new CRC32C();
        c.update(bytes, 0, text.substring(0, crcAt).getBytes(StandardCharsets.UTF_8).length);
        String expected = String.format("%08x", c.getValue());
        String actual = text.substring(crcAt + 7).strip();
        if (!expected.equals(actual)) {
            throw new IOException(where + ": metadata checksum mismatch, stored " + actual + ", computed " + expected);
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (String line : text.substring(MAGIC.length() + 1, crcAt).split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                fields.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        try {
            int format = Integer.parseInt(fields.getOrDefault("format", "0"));
            if (format != FORMAT) {
                throw new IOException(where + ": metadata format " + format + " is not supported (this build reads "
                        + FORMAT + ")");
            }
            return new DeviceMeta(Long.parseLong(fields.get("size")), Integer.parseInt(fields.get("chunk-size")),
                    Long.parseLong(fields.get("epoch")), fields.get("writer"));
        } catch (RuntimeException e) {
            throw new IOException(where + ": bad metadata field: " + e.getMessage(), e);
        }
    }
}

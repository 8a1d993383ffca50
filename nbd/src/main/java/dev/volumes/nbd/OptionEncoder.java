package dev.volumes.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Encodes what a client sends during the handshake, the inverse of {@link OptionDecoder} and
 * {@link OptionRequest}: client flags, option headers ({@code IHAVEOPT}, option, length, data) and
 * the data of {@code NBD_OPT_INFO}/{@code GO} and {@code NBD_OPT_LIST/SET_META_CONTEXT}. Used by
 * {@link ClientHandshake} and by the byte-level test client, so what our tests send the server is
 * what our client sends; {@code ClientWireTest} decodes the client's bytes with the server's
 * decoder. Strings are UTF-8 (lengths in bytes); longer than 4096 bytes is an
 * {@link IllegalArgumentException}. Stateless.
 */
final class OptionEncoder {

    private OptionEncoder() {}

    /** The client's 32-bit flags. */
    static ByteBuffer clientFlags(int flags) {
        return ByteBuffer.allocate(4).putInt(flags).flip();
    }

    /** An option: {@code IHAVEOPT}, option, data length, data; ready to write. */
    static ByteBuffer option(int option, byte[] data) {
        return ByteBuffer.allocate(16 + data.length).putLong(Wire.IHAVEOPT).putInt(option).putInt(data.length)
                .put(data).flip();
    }

    /** Data of {@code NBD_OPT_INFO}/{@code NBD_OPT_GO}: export name, then the info types requested. */
    static byte[] info(String exportName, int... infos) {
        byte[] n = utf8(exportName);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length).putInt(n.length).put(n)
                .putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** Data of {@code NBD_OPT_LIST_META_CONTEXT}/{@code NBD_OPT_SET_META_CONTEXT}: export, then queries. */
    static byte[] metaContext(String exportName, String... queries) {
        byte[] n = utf8(exportName);
        byte[][] q = new byte[queries.length][];
        int len = 4 + n.length + 4;
        for (int i = 0; i < queries.length; i++) {
            q[i] = utf8(queries[i]);
            len += 4 + q[i].length;
        }
        ByteBuffer b = ByteBuffer.allocate(len).putInt(n.length).put(n).putInt(q.length);
        for (byte[] query : q) {
            b.putInt(query.length).put(query);
        }
        return b.array();
    }

    /** UTF-8 bytes of a name or query, at most {@link Wire#MAX_STRING}. */
    static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > Wire.MAX_STRING) {
            throw new IllegalArgumentException("string longer than " + Wire.MAX_STRING + " bytes of UTF-8");
        }
        return b;
    }
}

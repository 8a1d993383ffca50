package dev.volumes.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/** A byte-level NBD client for protocol tests: sends exactly what a test says, reads raw replies. */
final class RawClient implements AutoCloseable {

    record OptionReply(int option, int type, byte[] data) {}

    record Chunk(int magic, int flags, int type, long cookie, long offset, byte[] payload) {}

    final SocketChannel channel;
    boolean extended;

    RawClient(SocketAddress address) throws IOException {
        channel = SocketChannel.open(address instanceof UnixDomainSocketAddress
                ? StandardProtocolFamily.UNIX : StandardProtocolFamily.INET);
        channel.connect(address);
    }

    ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException("server closed after " + b.position() + " of " + n + " bytes");
            }
        }
        return b.flip();
    }

    /** True if the server closed the connection (reads EOF) within the read. */
    boolean closedByServer() throws IOException {
        try {
            ByteBuffer b = ByteBuffer.allocate(1);
            return channel.read(b) < 0;
        } catch (IOException e) {
            return true;
        }
    }

    void write(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    void write(byte[] b) throws IOException {
        write(ByteBuffer.wrap(b));
    }

    /** Reads the greeting and sends client flags. */
    void greet(int clientFlags) throws IOException {
        ByteBuffer g = read(18);
        if (g.getLong() != Wire.NBDMAGIC || g.getLong() != Wire.IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        write(OptionEncoder.clientFlags(clientFlags));
    }

    void option(int option, byte[] data) throws IOException {
        write(OptionEncoder.option(option, data));
    }

    OptionReply reply() throws IOException {
        ByteBuffer h = read(20);
        if (h.getLong() != Wire.OPTION_REPLY_MAGIC) {
            throw new IOException("bad option reply magic");
        }
        int option = h.getInt();
        int type = h.getInt();
        int len = h.getInt();
        return new OptionReply(option, type, read(len).array());
    }

    static byte[] infoData(String name, int... infos) {
        return OptionEncoder.info(name, infos);
    }

    static byte[] metaData(String export, String... queries) {
        return OptionEncoder.metaContext(export, queries);
    }

    /** NBD_OPT_GO; returns the transmission flags from INFO_EXPORT. */
    int go(String name) throws IOException {
        option(Wire.OPT_GO, infoData(name, Wire.INFO_BLOCK_SIZE));
        int flags = -1;
        while (true) {
            OptionReply r = reply();
            if (r.type() == Wire.REP_ACK) {
                return flags;
            }
            if (r.type() != Wire.REP_INFO) {
                throw new IOException("GO failed with reply type 0x" + Integer.toHexString(r.type()) + ": "
                        + new String(r.data(), StandardCharsets.UTF_8));
            }
            ByteBuffer d = ByteBuffer.wrap(r.data());
            if (d.getShort() == Wire.INFO_EXPORT) {
                d.getLong();
                flags = Short.toUnsignedInt(d.getShort());
            }
        }
    }

    void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(RequestEncoder.size(extended) + (payload == null ? 0 : payload.length));
        RequestEncoder.put(b, extended, flags, type, cookie, offset, length);
        if (payload != null) {
            b.put(payload);
        }
        write(b.flip());
    }

    /** Reads one simple reply (16 bytes) and returns {error, cookie}. */
    long[] simple() throws IOException {
        ByteBuffer h = read(16);
        int magic = h.getInt();
        if (magic != Wire.SIMPLE_REPLY_MAGIC) {
            throw new IOException("expected a simple reply, got magic 0x" + Integer.toHexString(magic));
        }
        return new long[] {h.getInt(), h.getLong()};
    }

    /** Reads one structured or extended reply chunk. */
    Chunk chunk() throws IOException {
        ByteBuffer m = read(4);
        int magic = m.getInt();
        if (magic == Wire.STRUCTURED_REPLY_MAGIC) {
            ByteBuffer h = read(16);
            int flags = Short.toUnsignedInt(h.getShort());
            int type = Short.toUnsignedInt(h.getShort());
            long cookie = h.getLong();
            int len = h.getInt();
            return new Chunk(magic, flags, type, cookie, -1, read(len).array());
        }
        if (magic == Wire.EXTENDED_REPLY_MAGIC) {
            ByteBuffer h = read(28);
            int flags = Short.toUnsignedInt(h.getShort());
            int type = Short.toUnsignedInt(h.getShort());
            long cookie = h.getLong();
            long offset = h.getLong();
            long len = h.getLong();
            return new Chunk(magic, flags, type, cookie, offset, read((int) len).array());
        }
        throw new IOException("expected a chunk, got magic 0x" + Integer.toHexString(magic));
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}

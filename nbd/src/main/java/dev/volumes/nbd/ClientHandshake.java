package dev.volumes.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import javax.net.ssl.SSLSocket;

/**
 * The client side of the NBD handshake (docs/nbd.md, "Client"): connect, fixed newstyle with
 * {@code NBD_OPT_GO} (falling back to {@code NBD_OPT_EXPORT_NAME} for servers that do not know GO
 * or do not speak fixed newstyle), STARTTLS, extended headers or structured replies when offered,
 * {@code base:allocation}, block-size constraints. One call = one connection; stateless between
 * calls.
 *
 * <p>Refusals (an {@code NBD_REP_ERR_*} answer to something we need) are
 * {@link NbdRefusedException}s; transport failures and protocol violations are plain
 * {@link IOException}s. A watchdog closes the connection if the whole handshake takes longer than
 * the timeout.
 */
final class ClientHandshake {

    /** What a handshake negotiated; the transport is in transmission phase. */
    record Session(Transport transport, WireInput input, long size, int flags, int minBlock, int preferredBlock,
            int maxBlock, boolean blockSizeKnown, boolean structured, boolean extended, int metaContextId,
            boolean usedGo) {

        boolean has(int flag) {
            return (flags & flag) != 0;
        }
    }

    /** Where and how to connect. */
    record Target(String host, int port, java.nio.file.Path socket, String exportName, NbdClientTls tls,
            boolean extendedHeaders) {

        String describe() {
            return socket != null ? "unix:" + socket : host + ":" + port;
        }
    }

    private static final int MAX_REPLY = 1 << 20;
    private static final long OLDSTYLE_MAGIC = 0x00420281861253L;

    private final Target target;
    private Transport transport;
    private SocketChannel channel;
    private WireInput in;

    private ClientHandshake(Target target) {
        this.target = target;
    }

    /** Connects and negotiates; on any failure the connection is closed before this throws. */
    static Session connect(Target target, Duration timeout) throws IOException {
        ClientHandshake h = new ClientHandshake(target);
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread watchdog = Thread.ofVirtual().name("nbd-handshake-watchdog").start(() -> {
            try {
                Thread.sleep(timeout);
                if (done.compareAndSet(false, true) && h.transport != null) {
                    h.transport.close();
                }
            } catch (InterruptedException ignored) {
                // handshake finished
            }
        });
        try {
            Session s = h.run(timeout);
            if (!done.compareAndSet(false, true)) {
                throw new IOException("handshake with " + target.describe() + " timed out after " + timeout);
            }
            return s;
        } catch (IOException | RuntimeException e) {
            if (h.transport != null) {
                h.transport.close();
            }
            if (done.get() && !(e instanceof NbdRefusedException)) {
                throw new IOException("handshake with nbd server " + target.describe() + " did not finish within "
                        + timeout + ": " + e.getMessage(), e);
            }
            throw e;
        } finally {
            done.set(true);
            watchdog.interrupt();
        }
    }

    private Session run(Duration timeout) throws IOException {
        if (target.socket() != null) {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            transport = new ChannelTransport(channel); // set early so the watchdog can close it
            channel.connect(UnixDomainSocketAddress.of(target.socket()));
        } else {
            channel = SocketChannel.open();
            transport = new ChannelTransport(channel);
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            channel.socket().connect(new InetSocketAddress(target.host(), target.port()),
                    (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis())));
        }
        transport = new ChannelTransport(channel);
        return negotiate();
    }

    /**
     * Runs the handshake over an already connected transport (no TLS possible without a socket):
     * the seam the fuzz test feeds arbitrary server bytes through.
     */
    static Session negotiate(Target target, Transport transport) throws IOException {
        if (target.tls() != null) {
            throw new IllegalArgumentException("TLS needs a socket; use connect");
        }
        ClientHandshake h = new ClientHandshake(target);
        h.transport = transport;
        return h.negotiate();
    }

    private Session negotiate() throws IOException {
        in = new WireInput(transport);
        long magic = in.readLong();
        if (magic != Wire.NBDMAGIC) {
            throw new IOException(String.format("%s is not an NBD server (greeting magic 0x%016x)", target.describe(), magic));
        }
        long style = in.readLong();
        if (style == OLDSTYLE_MAGIC) {
            throw new IOException(target.describe() + " speaks only the oldstyle NBD handshake, which is not supported");
        }
        if (style != Wire.IHAVEOPT) {
            throw new IOException(String.format("%s sent handshake magic 0x%016x, expected IHAVEOPT", target.describe(), style));
        }
        int serverFlags = in.readUnsignedShort();
        boolean fixed = (serverFlags & Wire.FLAG_FIXED_NEWSTYLE) != 0;
        boolean noZeroes = (serverFlags & Wire.FLAG_NO_ZEROES) != 0;
        int clientFlags = (fixed ? Wire.CLIENT_FIXED_NEWSTYLE : 0) | (noZeroes ? Wire.CLIENT_NO_ZEROES : 0);
        transport.write(OptionEncoder.clientFlags(clientFlags));

        if (!fixed) {
            if (target.tls() != null) {
                throw new NbdRefusedException(target.describe(), target.exportName(), "NBD_OPT_STARTTLS",
                        Wire.REP_ERR_UNSUP, "server does not speak fixed newstyle, so it cannot do TLS");
            }
            return exportName(noZeroes, false, false, -1);
        }
        if (target.tls() != null) {
            startTls();
        }
        boolean extended = false;
        boolean structured = false;
        if (target.extendedHeaders()) {
            Reply r = option(Wire.OPT_EXTENDED_HEADERS, new byte[0]);
            extended = r.type == Wire.REP_ACK;
            refuseIfTlsRequired(r, "NBD_OPT_EXTENDED_HEADERS");
        }
        if (!extended) {
            Reply r = option(Wire.OPT_STRUCTURED_REPLY, new byte[0]);
            structured = r.type == Wire.REP_ACK;
            refuseIfTlsRequired(r, "NBD_OPT_STRUCTURED_REPLY");
        } else {
            structured = true;
        }
        int context = -1;
        if (structured) {
            context = setMetaContext();
        }
        return go(structured, extended, context, noZeroes);
    }

    private void refuseIfTlsRequired(Reply r, String option) throws NbdRefusedException {
        if (r.type == Wire.REP_ERR_TLS_REQD) {
            throw new NbdRefusedException(target.describe(), target.exportName(), option, r.type, r.text());
        }
    }

    private void startTls() throws IOException {
        Reply r = option(Wire.OPT_STARTTLS, new byte[0]);
        if (r.type != Wire.REP_ACK) {
            throw new NbdRefusedException(target.describe(), target.exportName(), "NBD_OPT_STARTTLS", r.type, r.text());
        }
        if (!in.drained()) {
            throw new IOException(target.describe() + " sent data after accepting STARTTLS, before the TLS handshake");
        }
        if (target.socket() != null) {
            // A Unix socket channel has no Socket adapter to layer an SSLSocket on: use an engine.
            transport = EngineTlsTransport.handshake(channel, target.tls().engine("localhost", 0), transport.peer(),
                    transport.remoteAddress());
        } else {
            SSLSocket ssl = target.tls().handshake(channel.socket(), target.host(), target.port());
            transport = new TlsTransport(ssl, channel, transport.peer(), channel.getRemoteAddress());
        }
        in = new WireInput(transport);
    }

    private int setMetaContext() throws IOException {
        sendOption(Wire.OPT_SET_META_CONTEXT, OptionEncoder.metaContext(target.exportName(), Wire.BASE_ALLOCATION));
        int id = -1;
        while (true) {
            Reply r = readReply(Wire.OPT_SET_META_CONTEXT);
            if (r.type == Wire.REP_META_CONTEXT && r.data.length >= 4) {
                String got = new String(r.data, 4, r.data.length - 4, StandardCharsets.UTF_8);
                if (got.equals(Wire.BASE_ALLOCATION)) {
                    id = ByteBuffer.wrap(r.data).getInt();
                }
            } else if (r.type == Wire.REP_ACK || isError(r.type)) {
                refuseIfTlsRequired(r, "NBD_OPT_SET_META_CONTEXT");
                return r.type == Wire.REP_ACK ? id : -1;
            }
        }
    }

    private Session go(boolean structured, boolean extended, int context, boolean noZeroes) throws IOException {
        sendOption(Wire.OPT_GO, OptionEncoder.info(target.exportName(), Wire.INFO_BLOCK_SIZE));
        long size = -1;
        int flags = 0;
        int min = 1;
        int pref = 4096;
        int max = 32 << 20;
        boolean blockKnown = false;
        while (true) {
            Reply r = readReply(Wire.OPT_GO);
            if (r.type == Wire.REP_INFO && r.data.length >= 2) {
                ByteBuffer b = ByteBuffer.wrap(r.data);
                int info = Short.toUnsignedInt(b.getShort());
                if (info == Wire.INFO_EXPORT && r.data.length >= 12) {
                    size = b.getLong();
                    flags = Short.toUnsignedInt(b.getShort());
                } else if (info == Wire.INFO_BLOCK_SIZE && r.data.length >= 14) {
                    min = b.getInt();
                    pref = b.getInt();
                    max = b.getInt();
                    blockKnown = true;
                }
            } else if (r.type == Wire.REP_ACK) {
                if (size < 0) {
                    throw new IOException(target.describe() + " finished NBD_OPT_GO without NBD_INFO_EXPORT");
                }
                return new Session(transport, in, size, flags, min, pref, max, blockKnown, structured, extended, context, true);
            } else if (r.type == Wire.REP_ERR_UNSUP) {
                // An old server without GO: EXPORT_NAME still works.
                return exportName(noZeroes, structured, extended, context);
            } else if (isError(r.type)) {
                throw new NbdRefusedException(target.describe(), target.exportName(), "NBD_OPT_GO", r.type, r.text());
            }
        }
    }

    private Session exportName(boolean noZeroes, boolean structured, boolean extended, int context) throws IOException {
        sendOption(Wire.OPT_EXPORT_NAME, OptionEncoder.utf8(target.exportName()));
        long size;
        int flags;
        try {
            size = in.readLong();
            flags = in.readUnsignedShort();
            if (!noZeroes) {
                in.skip(124);
            }
        } catch (java.io.EOFException e) {
            throw new IOException("nbd server " + target.describe() + " closed the connection after NBD_OPT_EXPORT_NAME '"
                    + target.exportName() + "' (no such export, or TLS required?)", e);
        }
        return new Session(transport, in, size, flags, 1, 4096, 32 << 20, false, structured, extended, context, false);
    }

    private record Reply(int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private Reply option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        while (true) {
            Reply r = readReply(option);
            if (r.type == Wire.REP_ACK || isError(r.type)) {
                return r;
            }
        }
    }

    private void sendOption(int option, byte[] data) throws IOException {
        transport.write(OptionEncoder.option(option, data));
    }

    private Reply readReply(int option) throws IOException {
        long magic = in.readLong();
        if (magic != Wire.OPTION_REPLY_MAGIC) {
            throw new IOException(String.format("%s sent option reply magic 0x%016x", target.describe(), magic));
        }
        int opt = in.readInt();
        int type = in.readInt();
        long length = Integer.toUnsignedLong(in.readInt());
        if (opt != option) {
            throw new IOException(target.describe() + " answered option " + opt + " while we asked for " + option);
        }
        if (length > MAX_REPLY) {
            throw new IOException(target.describe() + " sent an option reply of " + length + " bytes (limit " + MAX_REPLY + ")");
        }
        return new Reply(type, in.readBytes((int) length));
    }

    private static boolean isError(int type) {
        return (type & 0x80000000) != 0;
    }
}

package dev.volumes.cli;

import dev.volumes.cli.ControlProtocol.Request;
import dev.volumes.cli.ControlProtocol.Response;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Serves {@link ControlProtocol} on a Unix socket, dispatching to a {@link PoolService}. One
 * virtual thread per connection; requests on a connection are handled in order. The socket file
 * is created owner-only and removed on close.
 */
final class ControlServer implements Closeable {

    private static final System.Logger LOG = System.getLogger(ControlServer.class.getName());

    private final Path path;
    private final PoolService service;
    private final ServerSocketChannel channel;
    private final Set<SocketChannel> clients = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;

    private ControlServer(Path path, PoolService service, ServerSocketChannel channel) {
        this.path = path;
        this.service = service;
        this.channel = channel;
        this.acceptor = Thread.ofVirtual().name("control-accept").unstarted(this::acceptLoop);
    }

    /** Binds {@code path} (replacing a stale socket file) and starts serving. */
    static ControlServer start(Path path, PoolService service) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        channel.bind(UnixDomainSocketAddress.of(path));
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        ControlServer server = new ControlServer(path, service, channel);
        server.acceptor.start();
        return server;
    }

    private void acceptLoop() {
        while (channel.isOpen()) {
            try {
                SocketChannel client = channel.accept();
                clients.add(client);
                Thread.ofVirtual().name("control-client").start(() -> serve(client));
            } catch (IOException e) {
                if (channel.isOpen()) {
                    LOG.log(System.Logger.Level.WARNING, "control socket accept failed: " + e.getMessage());
                }
                return;
            }
        }
    }

    private void serve(SocketChannel client) {
        try (client;
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(client)) {
            String line;
            while ((line = readBoundedLine(in)) != null) {
                Response response = handle(line, new ProgressSender(out));
                synchronized (out) {
                    out.write(ControlProtocol.JSON.writeValueAsBytes(response));
                    out.write('\n');
                    out.flush();
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "control client closed: " + e.getMessage());
        } finally {
            clients.remove(client);
        }
    }

    private static String readBoundedLine(BufferedReader in) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                return line.toString();
            }
            if (line.length() >= ControlProtocol.MAX_LINE) {
                throw new IOException("control request longer than " + ControlProtocol.MAX_LINE + " bytes");
            }
            line.append((char) c);
        }
        return line.isEmpty() ? null : line.toString();
    }

    /** Sends progress lines on a client's connection, at most one per 200 ms plus the last. */
    private static final class ProgressSender implements ProgressListener {
        private final OutputStream out;
        private long last = System.nanoTime();

        ProgressSender(OutputStream out) {
            this.out = out;
        }

        @Override
        public void update(long done, long total) {
            long now = System.nanoTime();
            if (now - last < 200_000_000L && done != total) {
                return;
            }
            last = now;
            try {
                synchronized (out) {
                    out.write(ControlProtocol.JSON.writeValueAsBytes(
                            new ControlProtocol.ProgressLine(new ControlProtocol.Progress(done, total))));
                    out.write('\n');
                    out.flush();
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "progress line not delivered: " + e.getMessage());
            }
        }
    }

    private Response handle(String line, ProgressListener progress) {
        try {
            Request request = ControlProtocol.JSON.readValue(line, Request.class);
            return Response.success(dispatch(request, progress));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            return Response.failure(ExitCode.USAGE, "malformed control request: " + e.getOriginalMessage());
        } catch (Exception e) {
            return Response.failure(Failures.exitCode(e), Failures.message(e));
        }
    }

    private Object dispatch(Request r, ProgressListener progress) throws IOException {
        String op = r.op() == null ? "" : r.op();
        return switch (op) {
            case "pool.info" -> service.poolInfo();
            case "volume.list" -> service.list();
            case "volume.info" -> service.info(required(r.name(), "name"));
            case "volume.create" -> service.createVolume(required(r.name(), "name"), required(r.size(), "size"));
            case "snapshot.create" -> service.snapshot(required(r.source(), "source"), required(r.name(), "name"));
            case "clone" -> service.cloneVolume(required(r.source(), "source"), required(r.name(), "name"));
            case "pool.check" -> service.check();
            case "volume.delete" -> service.delete(required(r.name(), "name"), false);
            case "snapshot.delete" -> service.delete(required(r.name(), "name"), true);
            case "volume.resize" -> service.resize(required(r.name(), "name"), required(r.size(), "size"));
            case "pool.grow" -> service.grow(r.size());
            case "pool.repair" -> service.repair();
            case "diff" -> service.diff(required(r.source(), "source"), required(r.name(), "name"));
            case "volume.export" -> service.exportRaw(required(r.name(), "name"), absolute(r.target()), progress);
            case "volume.import" -> service.importRaw(absolute(r.target()), required(r.name(), "name"), progress);
            case "oci.freeze" -> service.freeze(required(r.name(), "name"), required(r.target(), "target"), progress);
            case "oci.pull" -> service.pull(required(r.target(), "target"), required(r.name(), "name"), progress);
            case "oci.attach" -> service.attach(required(r.target(), "target"), required(r.name(), "name"));
            case "oci.commit" -> service.commit(required(r.name(), "name"), required(r.target(), "target"), progress);
            case "oci.detach" -> service.detach(required(r.name(), "name"), Boolean.TRUE.equals(r.discard()));
            default -> throw new CliException(ExitCode.USAGE, "unknown control operation '" + op + "'");
        };
    }

    private static java.nio.file.Path absolute(String file) {
        java.nio.file.Path path = java.nio.file.Path.of(required(file, "target"));
        if (!path.isAbsolute()) {
            throw new CliException(ExitCode.USAGE, "control request 'target' must be an absolute path: " + file);
        }
        return path;
    }

    private static <T> T required(T value, String field) {
        if (value == null) {
            throw new CliException(ExitCode.USAGE, "control request is missing '" + field + "'");
        }
        return value;
    }

    @Override
    public void close() throws IOException {
        channel.close();
        for (SocketChannel client : clients) {
            client.close();
        }
        Files.deleteIfExists(path);
    }
}

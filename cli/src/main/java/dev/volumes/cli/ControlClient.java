package dev.volumes.cli;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.volumes.cli.ControlProtocol.Request;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** {@link PoolService} that asks a running daemon over its control socket. */
final class ControlClient implements PoolService {

    private final Path path;
    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;

    private ControlClient(Path path, SocketChannel channel) {
        this.path = path;
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.out = Channels.newOutputStream(channel);
    }

    /** Connects if a daemon is listening on {@code socket}; empty if none is (stale or no socket file). */
    static Optional<ControlClient> connect(Path socket) {
        if (!Files.exists(socket)) {
            return Optional.empty();
        }
        try {
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            return Optional.of(new ControlClient(socket, channel));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private JsonNode call(Request request) throws IOException {
        return call(request, ProgressListener.NONE);
    }

    private JsonNode call(Request request, ProgressListener progress) throws IOException {
        out.write(ControlProtocol.JSON.writeValueAsBytes(request));
        out.write('\n');
        out.flush();
        JsonNode response;
        while (true) {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("the daemon at " + path + " closed the control connection without answering");
            }
            response = ControlProtocol.JSON.readTree(line);
            JsonNode p = response.get("progress");
            if (p == null) {
                break;
            }
            progress.update(p.path("done").asLong(), p.path("total").asLong(-1));
        }
        if (!response.path("ok").asBoolean(false)) {
            ExitCode exit;
            try {
                exit = ExitCode.valueOf(response.path("exit").asText("FAILURE"));
            } catch (IllegalArgumentException e) {
                exit = ExitCode.FAILURE;
            }
            throw new CliException(exit, response.path("message").asText("the daemon reported a failure"));
        }
        return response.path("result");
    }

    private <T> T call(Request request, Class<T> type) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(request), type);
    }

    @Override
    public PoolView poolInfo() throws IOException {
        return call(new Request("pool.info", null, null, null), PoolView.class);
    }

    @Override
    public List<VolumeView> list() throws IOException {
        return ControlProtocol.JSON.convertValue(call(new Request("volume.list", null, null, null)),
                new TypeReference<List<VolumeView>>() {});
    }

    @Override
    public VolumeView info(String name) throws IOException {
        return call(new Request("volume.info", name, null, null), VolumeView.class);
    }

    @Override
    public VolumeView createVolume(String name, long size) throws IOException {
        return call(new Request("volume.create", name, null, size), VolumeView.class);
    }

    @Override
    public VolumeView snapshot(String source, String name) throws IOException {
        return call(new Request("snapshot.create", name, source, null), VolumeView.class);
    }

    @Override
    public VolumeView cloneVolume(String source, String name) throws IOException {
        return call(new Request("clone", name, source, null), VolumeView.class);
    }

    @Override
    public CheckView check() throws IOException {
        return call(new Request("pool.check", null, null, null), CheckView.class);
    }

    @Override
    public VolumeView delete(String name, boolean snapshotOnly) throws IOException {
        return call(new Request(snapshotOnly ? "snapshot.delete" : "volume.delete", name, null, null), VolumeView.class);
    }

    @Override
    public VolumeView resize(String name, long size) throws IOException {
        return call(new Request("volume.resize", name, null, size), VolumeView.class);
    }

    @Override
    public PoolView grow(Long backingSize) throws IOException {
        return call(new Request("pool.grow", null, null, backingSize), PoolView.class);
    }

    @Override
    public LifecycleViews.Repair repair() throws IOException {
        return call(new Request("pool.repair", null, null, null), LifecycleViews.Repair.class);
    }

    @Override
    public LifecycleViews.Diff diff(String older, String newer) throws IOException {
        return call(new Request("diff", newer, older, null), LifecycleViews.Diff.class);
    }

    @Override
    public VolumeView exportRaw(String name, Path file, ProgressListener progress) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(new Request("volume.export", name, null, null,
                file.toAbsolutePath().toString(), null), progress), VolumeView.class);
    }

    @Override
    public VolumeView importRaw(Path file, String name, ProgressListener progress) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(new Request("volume.import", name, null, null,
                file.toAbsolutePath().toString(), null), progress), VolumeView.class);
    }

    @Override
    public OciView freeze(String name, String image, ProgressListener progress) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(new Request("oci.freeze", name, null, null, image, null), progress),
                OciView.class);
    }

    @Override
    public VolumeView pull(String image, String name, ProgressListener progress) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(new Request("oci.pull", name, null, null, image, null), progress),
                VolumeView.class);
    }

    @Override
    public VolumeView attach(String image, String name) throws IOException {
        return call(new Request("oci.attach", name, null, null, image, null), VolumeView.class);
    }

    @Override
    public OciView commit(String name, String image, ProgressListener progress) throws IOException {
        return ControlProtocol.JSON.treeToValue(call(new Request("oci.commit", name, null, null, image, null), progress),
                OciView.class);
    }

    @Override
    public VolumeView detach(String name, boolean discard) throws IOException {
        return call(new Request("oci.detach", name, null, null, null, discard), VolumeView.class);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}

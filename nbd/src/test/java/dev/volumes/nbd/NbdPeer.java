package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A real NBD server program (nbdkit, qemu-nbd, nbd-server) started by a test on 127.0.0.1 and a
 * free port, stopped by {@link #close()}. nbdkit gets {@code --exit-with-parent}; qemu-nbd and
 * nbd-server are killed by pid.
 */
final class NbdPeer implements AutoCloseable {

    private final Process process;
    private final long daemonPid; // nbd-server forks away; -1 otherwise
    private final int port;
    private final Path log;
    private final List<String> command;

    private NbdPeer(Process process, long daemonPid, int port, Path log, List<String> command) {
        this.process = process;
        this.daemonPid = daemonPid;
        this.port = port;
        this.log = log;
        this.command = command;
    }

    int port() {
        return port;
    }

    String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    NbdClient.Builder client(String export) {
        return NbdClient.builder().host("127.0.0.1").port(port).exportName(export);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** {@code nbdkit [options...] plugin args...}; {@code args} is everything after the port. */
    static NbdPeer nbdkit(int port, String... args) throws Exception {
        Peers.require("nbdkit", "nbdkit");
        List<String> cmd = new ArrayList<>(List.of("nbdkit", "--exit-with-parent", "-f", "-i", "127.0.0.1", "-p",
                Integer.toString(port)));
        cmd.addAll(List.of(args));
        return start(cmd, port, -1);
    }

    static NbdPeer nbdkit(String... args) throws Exception {
        return nbdkit(freePort(), args);
    }

    /** {@code qemu-nbd} serving a raw file as export "disk". */
    static NbdPeer qemuNbd(Path file, boolean readOnly) throws Exception {
        Peers.require("qemu-nbd", "qemu-utils");
        int port = freePort();
        List<String> cmd = new ArrayList<>(List.of("qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p",
                Integer.toString(port), "-x", "disk", "--persistent", "--shared=8", "--cache=writeback",
                "--discard=unmap"));
        if (readOnly) {
            cmd.add("-r");
        }
        cmd.add(file.toString());
        return start(cmd, port, -1);
    }

    /** Debian's {@code nbd-server} serving {@code file} as export "disk" (daemonised; killed by pid). */
    static NbdPeer nbdServer(Path dir, Path file, boolean readOnly) throws Exception {
        Peers.require("nbd-server", "nbd-server");
        int port = freePort();
        Path config = Files.createTempFile(dir, "nbd-server", ".conf");
        Path pid = dir.resolve("nbd-server-" + port + ".pid");
        String user = System.getProperty("user.name");
        String group = PeerRun.of(10, "id", "-gn").ok().stdout().trim();
        Files.writeString(config, "[generic]\n    listenaddr = 127.0.0.1\n    port = " + port + "\n    user = " + user
                + "\n    group = " + group + "\n[disk]\n    exportname = " + file + "\n    flush = true\n    fua = true\n"
                + "    trim = true\n    readonly = " + readOnly + "\n");
        PeerRun run = PeerRun.of(30, "nbd-server", "-C", config.toString(), "-p", pid.toString()).ok();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!Files.exists(pid) || Files.readString(pid).isBlank()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("nbd-server wrote no pid file: " + run);
            }
            Thread.sleep(20);
        }
        long daemon = Long.parseLong(Files.readString(pid).trim());
        NbdPeer p = new NbdPeer(null, daemon, port, null, List.of("nbd-server", "-C", config.toString()));
        p.awaitListening();
        return p;
    }

    private static NbdPeer start(List<String> cmd, int port, long daemon) throws Exception {
        Path log = Files.createTempFile("nbd-peer", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PATH", PeerRun.DEBIAN_PATH);
        NbdPeer p = new NbdPeer(pb.start(), daemon, port, log, cmd);
        try {
            p.awaitListening();
        } catch (Throwable t) {
            p.close();
            throw t;
        }
        return p;
    }

    private void awaitListening() throws Exception {
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (true) {
            if (process != null && !process.isAlive()) {
                throw new AssertionError("peer exited with " + process.exitValue() + ": " + command + "\n" + output());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("peer not listening on " + port + " after 15 s: " + command + "\n" + output());
                }
                Thread.sleep(20);
            }
        }
    }

    String output() {
        try {
            return log == null ? "" : Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** Kills the server abruptly (SIGKILL), as a crash would. */
    void kill() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor();
        }
        if (daemonPid > 0) {
            ProcessHandle.of(daemonPid).ifPresent(h -> {
                h.descendants().forEach(ProcessHandle::destroyForcibly);
                h.destroyForcibly();
            });
        }
    }

    @Override
    public void close() throws InterruptedException {
        kill();
        if (log != null) {
            try {
                Files.deleteIfExists(log);
            } catch (IOException ignored) {
                // temp file
            }
        }
    }
}

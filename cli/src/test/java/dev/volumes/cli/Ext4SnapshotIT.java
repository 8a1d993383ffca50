package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.testkit.PeerRun;
import dev.volumes.testkit.Peers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real kernel ext4 on a served pool volume (nbdfuse + mount -o loop; there is no /dev/nbd
 * here): files written, the filesystem frozen, a live snapshot taken from another process, more
 * files written, unmounted, e2fsck clean; then the snapshot export mounts read-only, checks
 * clean and shows exactly the older files.
 */
class Ext4SnapshotIT {

    @TempDir
    Path dir;

    @Test
    void snapshotOfAMountedExt4MountsAndShowsTheOlderFiles() throws Exception {
        Peers.require("nbdfuse", "libnbd-bin");
        Peers.require("mkfs.ext4", "e2fsprogs");
        Peers.require("e2fsck", "e2fsprogs");
        Peers.require("fsfreeze", "util-linux");
        Peers.require("fusermount3", "fuse3");
        if (!Files.exists(Path.of("/dev/fuse"))) {
            Peers.missing("/dev/fuse (FUSE kernel support)");
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            Peers.missing("root privileges for mount -o loop");
        }
        Path data = dir.resolve("data");
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        try (Launcher.Daemon daemon = Launcher.Daemon.start(data, "--volume-size", "256M")) {
            try (Fuse disk = Fuse.attach(dir.resolve("fuse-disk"), daemon.uri("disk"), false)) {
                PeerRun.of(120, "mkfs.ext4", "-q", "-F", disk.file().toString()).ok();
                PeerRun.of(60, "mount", "-o", "loop", disk.file().toString(), mnt.toString()).ok();
                try {
                    Files.writeString(mnt.resolve("before.txt"), "written before the snapshot");
                    Files.write(mnt.resolve("before.bin"), new byte[3 << 20]);
                    PeerRun.of(60, "fsfreeze", "--freeze", mnt.toString()).ok();
                    try {
                        Launcher.run(data, "snapshot", "create", "disk", "frozen").ok();
                    } finally {
                        PeerRun.of(60, "fsfreeze", "--unfreeze", mnt.toString()).ok();
                    }
                    Files.writeString(mnt.resolve("after.txt"), "written after the snapshot");
                } finally {
                    PeerRun.of(60, "umount", mnt.toString()).ok();
                }
                PeerRun fsck = PeerRun.of(120, "e2fsck", "-fn", disk.file().toString());
                assertThat(fsck.exit()).as(fsck.toString()).isZero();
            }
            try (Fuse snapshot = Fuse.attach(dir.resolve("fuse-snap"), daemon.uri("frozen"), true)) {
                PeerRun fsck = PeerRun.of(120, "e2fsck", "-fn", snapshot.file().toString());
                assertThat(fsck.exit()).as(fsck.toString()).isZero();
                PeerRun.of(60, "mount", "-o", "loop,ro", snapshot.file().toString(), mnt.toString()).ok();
                try {
                    assertThat(Files.readString(mnt.resolve("before.txt"))).isEqualTo("written before the snapshot");
                    assertThat(Files.size(mnt.resolve("before.bin"))).isEqualTo(3 << 20);
                    assertThat(mnt.resolve("after.txt")).doesNotExist();
                } finally {
                    PeerRun.of(60, "umount", mnt.toString()).ok();
                }
            }
            daemon.stop();
        }
        assertThat(Launcher.run(data, "pool", "check").ok().out()).contains("clean");
    }

    /** An nbdfuse process exposing one export as the file {@code DIR/nbd}. */
    record Fuse(Path mountpoint, Process process) implements AutoCloseable {

        static Fuse attach(Path mountpoint, String uri, boolean readOnly) throws Exception {
            Files.createDirectories(mountpoint);
            ProcessBuilder pb = readOnly
                    ? new ProcessBuilder("nbdfuse", "-r", mountpoint.toString(), uri)
                    : new ProcessBuilder("nbdfuse", mountpoint.toString(), uri);
            Process p = pb.redirectErrorStream(true).redirectOutput(mountpoint.resolveSibling(
                    mountpoint.getFileName() + ".log").toFile()).start();
            Fuse fuse = new Fuse(mountpoint, p);
            for (int i = 0; i < 200 && !Files.exists(fuse.file()); i++) {
                Thread.sleep(50);
            }
            assertThat(fuse.file()).as("nbdfuse exposed %s", uri).exists();
            return fuse;
        }

        Path file() {
            return mountpoint.resolve("nbd");
        }

        @Override
        public void close() throws Exception {
            PeerRun.of(60, "fusermount3", "-u", mountpoint.toString());
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }
}

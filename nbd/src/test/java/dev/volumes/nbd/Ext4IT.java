package dev.volumes.nbd;

import dev.volumes.testkit.PeerRun;
import static org.assertj.core.api.Assertions.assertThat;

import dev.volumes.device.FileDevice;
import dev.volumes.testkit.Peers;
import dev.volumes.testkit.Seeds;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real kernel ext4 over our server: nbdfuse exposes the export as a file, the kernel's loop
 * driver mounts it (no /dev/nbd here). Files are written, read back, unmounted, e2fsck -fn is
 * clean, and the filesystem is mounted again to read them once more. The export is a FileDevice,
 * so this tests the server alone; ext4 on a served pool volume with a live snapshot between two
 * writes is {@code cli/src/test/java/dev/volumes/cli/Ext4SnapshotIT.java}.
 */
class Ext4IT {

    @TempDir
    Path dir;

    @Test
    void mkfsMountWriteReadUmountFsckClean() throws Exception {
        Peers.require("nbdfuse", "libnbd-bin");
        Peers.require("mkfs.ext4", "e2fsprogs");
        Peers.require("e2fsck", "e2fsprogs");
        Peers.require("fusermount3", "fuse3");
        if (!Files.exists(Path.of("/dev/fuse"))) {
            Peers.missing("/dev/fuse (FUSE kernel support)");
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            Peers.missing("root privileges for mount -o loop");
        }
        Path image = dir.resolve("disk.img");
        Path fuse = Files.createDirectories(dir.resolve("fuse"));
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Random random = Seeds.random("Ext4IT");
        byte[][] files = new byte[12][];
        try (FileDevice device = FileDevice.create(image, 256L << 20);
                NbdServer server = NbdServer.builder().listen(new InetSocketAddress("127.0.0.1", 0)).build()) {
            server.addExport("fs", device, "ext4 test");
            server.start();
            String uri = "nbd://127.0.0.1:" + server.address().getPort() + "/fs";
            Process nbdfuse = new ProcessBuilder("nbdfuse", fuse.toString(), uri).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("nbdfuse.log").toFile()).start();
            Path exposed = fuse.resolve("nbd");
            try {
                for (int i = 0; i < 200 && !Files.exists(exposed); i++) {
                    Thread.sleep(50);
                }
                assertThat(exposed).as("nbdfuse exposes the export; log: %s", dir.resolve("nbdfuse.log")).exists();
                PeerRun.of(120, "mkfs.ext4", "-q", "-F", exposed.toString()).ok();
                PeerRun.of(60, "mount", "-o", "loop", exposed.toString(), mnt.toString()).ok();
                try {
                    for (int i = 0; i < files.length; i++) {
                        files[i] = new byte[(1 + random.nextInt(4096)) * 256];
                        random.nextBytes(files[i]);
                        Files.write(mnt.resolve("file" + i), files[i]);
                    }
                    Files.createDirectories(mnt.resolve("dir/sub"));
                    Files.writeString(mnt.resolve("dir/sub/hello.txt"), "hello over NBD");
                    PeerRun.of(60, "sync").ok();
                    for (int i = 0; i < files.length; i++) {
                        assertThat(Files.readAllBytes(mnt.resolve("file" + i))).isEqualTo(files[i]);
                    }
                } finally {
                    PeerRun.of(60, "umount", mnt.toString()).ok();
                }
                PeerRun fsck = PeerRun.of(120, "e2fsck", "-fn", exposed.toString());
                assertThat(fsck.exit()).as(fsck.toString()).isZero();
                // Mount again: the data survived the unmount (dropped page cache) and came back over NBD.
                PeerRun.of(60, "sh", "-c", "echo 3 > /proc/sys/vm/drop_caches || true");
                PeerRun.of(60, "mount", "-o", "loop,ro", exposed.toString(), mnt.toString()).ok();
                try {
                    for (int i = 0; i < files.length; i++) {
                        assertThat(Files.readAllBytes(mnt.resolve("file" + i))).isEqualTo(files[i]);
                    }
                    assertThat(Files.readString(mnt.resolve("dir/sub/hello.txt"))).isEqualTo("hello over NBD");
                } finally {
                    PeerRun.of(60, "umount", mnt.toString()).ok();
                }
            } finally {
                PeerRun.of(60, "fusermount3", "-u", fuse.toString());
                if (!nbdfuse.waitFor(20, TimeUnit.SECONDS)) {
                    nbdfuse.destroyForcibly().waitFor();
                }
            }
            assertThat(server.stats().exports().get("fs").writes()).isGreaterThan(0);
        }
        // The image file itself (the FileDevice's bytes) is a clean ext4 after the server synced it.
        PeerRun fsck = PeerRun.of(120, "e2fsck", "-fn", image.toString());
        assertThat(fsck.exit()).as(fsck.toString()).isZero();
    }
}

package dev.volumes.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The exclusive-use promise of {@link FileDevice}: within this JVM and across processes. */
class FileDeviceLockTest {

    private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase().startsWith("linux");

    @TempDir
    Path dir;

    @Test
    void secondWritableOpenInThisJvmIsRefusedAndTheFirstKeepsItsLock() throws Exception {
        Path p = dir.resolve("a.img");
        try (FileDevice first = FileDevice.create(p, 1 << 20)) {
            long pid = ProcessHandle.current().pid();
            assertThatThrownBy(() -> FileDevice.open(p)).isInstanceOf(DeviceInUseException.class)
                    .hasMessageContaining(p.toString()).hasMessageContaining("in use")
                    .hasMessageContaining("this process (pid " + pid + ")");
            assertThatThrownBy(() -> FileDevice.openReadOnly(p)).isInstanceOf(DeviceInUseException.class)
                    .hasMessageContaining("in use");
            // The refusal must not have dropped the first device's OS lock: another process still sees it.
            assertThat(runChild("try", p)).startsWith("refused: ").contains("in use");
            first.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
        }
        try (FileDevice again = FileDevice.open(p)) {
            assertThat(again.size()).isEqualTo(1 << 20);
        }
    }

    @Test
    void readOnlyOpensShareButExcludeWriters() throws Exception {
        Path p = dir.resolve("ro.img");
        Files.write(p, new byte[8192]);
        try (FileDevice r1 = FileDevice.openReadOnly(p); FileDevice r2 = FileDevice.openReadOnly(p)) {
            assertThat(r1.capabilities().readOnly()).isTrue();
            r1.close();
            assertThat(r2.size()).isEqualTo(8192);
            assertThatThrownBy(() -> FileDevice.open(p)).isInstanceOf(DeviceInUseException.class)
                    .hasMessageContaining("read-only in this process");
            assertThat(runChild("try", p)).startsWith("refused: ");
        }
        assertThat(runChild("try", p)).startsWith("opened 8192");
    }

    @Test
    void openWhileAnotherProcessHoldsTheFileIsRefusedNamingThatProcess() throws Exception {
        Path p = dir.resolve("held.img");
        Files.write(p, new byte[4096]);
        Process child = startChild("hold", p);
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line = out.readLine();
            assertThat(line).as("child output").isEqualTo("locked 4096");
            assertThatThrownBy(() -> FileDevice.open(p)).isInstanceOf(DeviceInUseException.class)
                    .hasMessageContaining(p.toString()).hasMessageContaining("is in use")
                    .hasMessageContaining(LINUX ? "locked for writing by process " + child.pid() : "another process");
            assertThatThrownBy(() -> FileDevice.openReadOnly(p)).isInstanceOf(DeviceInUseException.class);
        } finally {
            child.getOutputStream().close();
            assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        try (FileDevice d = FileDevice.open(p)) {
            assertThat(d.size()).isEqualTo(4096);
        }
    }

    private Process startChild(String mode, Path p) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), LockHolderMain.class.getName(), mode, p.toString());
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        return pb.start();
    }

    private String runChild(String mode, Path p) throws Exception {
        Process child = startChild(mode, p);
        child.getOutputStream().close();
        String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).as("child exit, output: %s", out).isZero();
        return out;
    }
}

package dev.volumes.testkit;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a peer program (nbdinfo, qemu-img, mkfs.ext4 ...) to completion with a timeout and captures
 * its output. Debian's directories come first on {@code PATH} so that Debian's python (with the
 * libnbd bindings nbdsh needs) wins over any other python3; stdin is {@code /dev/null}.
 *
 * @param exit the exit code
 * @param stdout everything printed on standard output
 * @param stderr everything printed on standard error
 */
public record PeerRun(int exit, String stdout, String stderr) {

    /** Debian's binaries first, then the inherited PATH. */
    public static final String DEBIAN_PATH = "/usr/bin:/usr/sbin:/bin:/sbin:"
            + System.getenv().getOrDefault("PATH", "");

    /** Runs {@code command}, failing the test if it does not finish within {@code timeoutSeconds}. */
    public static PeerRun of(long timeoutSeconds, String... command) throws IOException, InterruptedException {
        return of(timeoutSeconds, Map.of(), List.of(command));
    }

    /** As {@link #of(long, String...)} with extra environment variables. */
    public static PeerRun of(long timeoutSeconds, Map<String, String> env, List<String> command)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command));
        pb.environment().put("PATH", DEBIAN_PATH);
        pb.environment().remove("PYTHONHOME");
        pb.environment().remove("PYTHONPATH");
        pb.environment().putAll(env);
        Path out = Files.createTempFile("peer", ".out");
        Path err = Files.createTempFile("peer", ".err");
        pb.redirectOutput(out.toFile());
        pb.redirectError(err.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor();
                throw new AssertionError("timed out after " + timeoutSeconds + " s: " + command + "\nstdout: "
                        + Files.readString(out) + "\nstderr: " + Files.readString(err));
            }
            return new PeerRun(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Fails the test with the output unless the exit code is 0; returns this for chaining. */
    public PeerRun ok() {
        if (exit != 0) {
            throw new AssertionError("exit " + exit + "\nstdout: " + stdout + "\nstderr: " + stderr);
        }
        return this;
    }

    @Override
    public String toString() {
        return "exit " + exit + "\nstdout: " + stdout + "\nstderr: " + stderr;
    }
}

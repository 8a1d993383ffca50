package dev.volumes.nbd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a peer program with a timeout and captures its output (test helper). */
record Run(int exit, String stdout, String stderr) {

    /** Debian's python first on PATH, so nbdsh finds the nbd module (the default python3 may be pyenv's). */
    static final String DEBIAN_PATH = "/usr/bin:/usr/sbin:/bin:/sbin:" + System.getenv().getOrDefault("PATH", "");

    static Run of(long timeoutSeconds, String... command) throws IOException, InterruptedException {
        return of(timeoutSeconds, Map.of(), List.of(command));
    }

    static Run of(long timeoutSeconds, Map<String, String> env, List<String> command)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command));
        pb.environment().put("PATH", DEBIAN_PATH);
        pb.environment().remove("PYTHONHOME");
        pb.environment().remove("PYTHONPATH");
        pb.environment().putAll(env);
        Path out = Files.createTempFile("run", ".out");
        Path err = Files.createTempFile("run", ".err");
        pb.redirectOutput(out.toFile());
        pb.redirectError(err.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor();
                throw new AssertionError("timed out after " + timeoutSeconds + " s: " + command + "\nstdout: "
                        + Files.readString(out) + "\nstderr: " + Files.readString(err));
            }
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    Run ok() {
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

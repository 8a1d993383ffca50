package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs the built {@code volumes} command in a subprocess, the way users do: {@code bin/volumes}
 * for the daemon (the launcher itself under test) and the shaded jar for quick commands.
 */
final class Launcher {

    static final Path MODULE = Path.of("").toAbsolutePath();
    static final Path JAR = MODULE.resolve("target/volumes.jar");
    static final Path BIN = MODULE.getParent().resolve("bin/volumes");
    static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    private Launcher() {}

    /** Result of a finished command. */
    record Result(int exit, String out, String err) {
        Result ok() {
            assertThat(exit).as("exit code; stdout: %s; stderr: %s", out, err).isZero();
            return this;
        }
    }

    /** Runs {@code volumes --data-dir DIR ARGS...} from the jar and waits (at most 2 minutes). */
    static Result run(Path dataDir, String... args) throws IOException, InterruptedException {
        return run(java.util.Map.of(), dataDir, args);
    }

    /** As {@link #run(Path, String...)} with extra environment variables. */
    static Result run(java.util.Map<String, String> env, Path dataDir, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar",
                JAR.toString()));
        if (dataDir != null) {
            command.add("--data-dir");
            command.add(dataDir.toString());
        }
        command.addAll(List.of(args));
        Path out = Files.createTempFile("volumes", ".out");
        Path err = Files.createTempFile("volumes", ".err");
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            builder.environment().putAll(env);
            Process p = builder.start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out: " + command);
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /**
     * A running {@code bin/volumes serve}; {@link #close()} sends SIGTERM and waits. Its output goes
     * to a log file (reading a child's pipe races with the JDK draining it when the child exits).
     */
    static final class Daemon implements AutoCloseable {
        private static final Pattern SERVING = Pattern.compile("on nbd://127\\.0\\.0\\.1:(\\d+)");
        private static final Pattern METRICS = Pattern.compile("metrics: http://127\\.0\\.0\\.1:(\\d+)/metrics");

        final Process process;
        final Path log;
        int nbdPort = -1;
        int metricsPort = -1;

        private Daemon(Process process, Path log) {
            this.process = process;
            this.log = log;
        }

        /** Everything the daemon printed so far (stdout and stderr). */
        String output() {
            try {
                return Files.readString(log, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        /** Starts {@code bin/volumes --data-dir DIR serve --listen 127.0.0.1:0 --metrics 127.0.0.1:0 EXTRA...}. */
        static Daemon start(Path dataDir, String... extra) throws IOException, InterruptedException {
            return start(java.util.Map.of(), dataDir, extra);
        }

        /** As {@link #start(Path, String...)} with extra environment variables. */
        static Daemon start(java.util.Map<String, String> env, Path dataDir, String... extra)
                throws IOException, InterruptedException {
            List<String> args = new ArrayList<>(List.of("serve", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"));
            args.addAll(List.of(extra));
            return launch(env, dataDir, args);
        }

        /**
         * Starts {@code bin/volumes --data-dir DIR ARGS...} (a long-running command: {@code serve},
         * {@code replica serve}, {@code ha run}) and waits until it prints that SIGTERM stops it.
         */
        static Daemon launch(java.util.Map<String, String> env, Path dataDir, List<String> args)
                throws IOException, InterruptedException {
            List<String> command = new ArrayList<>(List.of(BIN.toString(), "--data-dir", dataDir.toString()));
            command.addAll(args);
            Path log = Files.createTempFile("volumes-" + args.getFirst(), ".log");
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            builder.environment().putAll(env);
            Daemon d = new Daemon(builder.start(), log);
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (System.nanoTime() < deadline) {
                String text = d.output();
                if (text.contains("SIGTERM stops")) {
                    Matcher m = SERVING.matcher(text);
                    if (m.find()) {
                        d.nbdPort = Integer.parseInt(m.group(1));
                    }
                    m = METRICS.matcher(text);
                    if (m.find()) {
                        d.metricsPort = Integer.parseInt(m.group(1));
                    }
                    return d;
                }
                if (!d.process.isAlive()) {
                    break;
                }
                Thread.sleep(50);
            }
            d.process.destroyForcibly().waitFor();
            throw new AssertionError("volumes " + String.join(" ", args) + " did not come up; output:\n" + d.output());
        }

        String uri(String export) {
            return "nbd://127.0.0.1:" + nbdPort + "/" + export;
        }

        /** SIGKILL (a crash: nothing is closed or synced), then waits for the process to end. */
        void kill() throws InterruptedException {
            process.destroyForcibly().waitFor();
        }

        /** SIGTERM, then waits for the process to end; returns the exit code. */
        int stop() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("volumes did not stop within 60 s after SIGTERM:\n" + output());
            }
            return process.exitValue();
        }

        @Override
        public void close() throws InterruptedException {
            if (process.isAlive()) {
                stop();
            }
        }
    }
}

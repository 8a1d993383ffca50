package dev.volumes.ha;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@link Fencer#command}: an external program that must exit 0. Stateless, thread-safe. */
final class CommandFencer implements Fencer {

    private static final int MAX_OUTPUT = 4096;

    private final List<String> command;
    private final String nodeId;
    private final Duration timeout;

    CommandFencer(List<String> command, String nodeId, Duration timeout) {
        if (command == null || command.isEmpty() || command.getFirst().isBlank()) {
            throw new IllegalArgumentException("fence command is empty");
        }
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("node id is blank");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("fence command timeout must be positive: " + timeout);
        }
        this.command = List.copyOf(command);
        this.nodeId = nodeId;
        this.timeout = timeout;
    }

    @Override
    public void fence(long term) throws IOException {
        List<String> argv = command.stream()
                .map(a -> a.replace("{term}", Long.toString(term)).replace("{node}", nodeId))
                .toList();
        Process process = new ProcessBuilder(argv).redirectErrorStream(true).start();
        process.getOutputStream().close();
        java.util.concurrent.atomic.AtomicReference<byte[]> tail = new java.util.concurrent.atomic.AtomicReference<>();
        byte[] output;
        boolean exited;
        try {
            Thread reader = Thread.ofVirtual().start(() -> tail.set(drain(process.getInputStream())));
            exited = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!exited) {
                process.destroyForcibly();
            }
            reader.join(1000);
            output = tail.get();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("fence command " + argv + " for term " + term + " interrupted", e);
        }
        String text = output == null ? "" : new String(output, StandardCharsets.UTF_8).strip();
        if (!exited) {
            throw new IOException("fence command " + argv + " for term " + term + " did not finish within "
                    + timeout + " and was killed; output: " + text);
        }
        if (process.exitValue() != 0) {
            throw new IOException("fence command " + argv + " for term " + term + " exited with status "
                    + process.exitValue() + " (0 required); output: " + text);
        }
    }

    private static byte[] drain(InputStream in) {
        try (in) {
            byte[] all = in.readAllBytes();
            int from = Math.max(0, all.length - MAX_OUTPUT);
            return java.util.Arrays.copyOfRange(all, from, all.length);
        } catch (IOException e) {
            return ("(output unreadable: " + e.getMessage() + ")").getBytes(StandardCharsets.UTF_8);
        }
    }

    @Override
    public String toString() {
        return "CommandFencer" + command;
    }
}

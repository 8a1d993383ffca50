package dev.volumes.testkit;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Finds the real peer programs (nbdkit, qemu-img, skopeo ...) that interop tests run against.
 *
 * <p>Policy: when a peer is missing, the test is skipped with a message starting
 * {@value #SKIP_PREFIX} that names the program and the Debian package to install; {@code bin/test}
 * collects those messages and prints them at the end of the run. When the environment variable
 * {@code VOLUMES_REQUIRE_PEERS=1} is set (CI sets it after installing every peer), a missing peer
 * fails the test instead.
 */
public final class Peers {

    /** Prefix of every skip message caused by a missing peer; {@code bin/test} greps for it. */
    public static final String SKIP_PREFIX = "peer missing:";

    private Peers() {}

    /** Whether missing peers fail tests rather than skip them. */
    public static boolean required() {
        return "1".equals(System.getenv("VOLUMES_REQUIRE_PEERS"));
    }

    /**
     * The path of {@code program} on {@code PATH} (or in /usr/sbin, /sbin), or skips/fails the
     * calling test as the policy says.
     *
     * @param program executable name, e.g. "nbdinfo"
     * @param debianPackage the package that provides it, e.g. "libnbd-bin"
     */
    public static Path require(String program, String debianPackage) {
        Optional<Path> found = find(program);
        if (found.isPresent()) {
            return found.get();
        }
        missing(program + " (install Debian package " + debianPackage + ")");
        throw new AssertionError("unreachable");
    }

    /**
     * Skips or fails the calling test because {@code what} is unavailable; use for peers that are
     * not plain executables (a Maven artifact, a kernel feature).
     */
    public static void missing(String what) {
        String message = SKIP_PREFIX + " " + what;
        if (required()) {
            Assertions.fail(message + " — VOLUMES_REQUIRE_PEERS=1 makes this a failure");
        }
        Assumptions.abort(message);
    }

    /** The path of {@code program} if it is installed. */
    public static Optional<Path> find(String program) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : (path + File.pathSeparator + "/usr/sbin" + File.pathSeparator + "/sbin")
                .split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }
}

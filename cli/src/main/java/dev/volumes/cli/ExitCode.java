package dev.volumes.cli;

/**
 * Exit codes of the {@code volumes} command, stable for scripts (documented in docs/cli.md).
 */
enum ExitCode {
    OK(0, "success"),
    FAILURE(1, "the operation failed (I/O error, corrupt pool, unexpected error)"),
    USAGE(2, "bad command line: unknown command or option, bad size or name"),
    NOT_FOUND(3, "the named pool, volume or snapshot does not exist"),
    EXISTS(4, "a volume or snapshot with that name already exists"),
    NO_SPACE(5, "the pool is full"),
    IN_USE(6, "the pool is held by another process (a daemon or another command)"),
    READ_ONLY(7, "the target is read-only (a snapshot)"),
    CHECK_FAILED(8, "`pool check` found problems (listed on stdout)");

    final int code;
    final String meaning;

    ExitCode(int code, String meaning) {
        this.code = code;
        this.meaning = meaning;
    }
}

package dev.volumes.cli;

import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.NoSpaceException;
import dev.volumes.device.ReadOnlyDeviceException;
import dev.volumes.pool.VolumeExistsException;
import dev.volumes.pool.VolumeNotFoundException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;

/** Maps any failure to the exit code and one-line message the user sees. */
final class Failures {

    private Failures() {}

    static ExitCode exitCode(Throwable t) {
        return switch (t) {
            case CliException e -> e.exitCode();
            case VolumeNotFoundException e -> ExitCode.NOT_FOUND;
            case VolumeExistsException e -> ExitCode.EXISTS;
            case NoSuchFileException e -> ExitCode.NOT_FOUND;
            case dev.volumes.oci.RegistryException e when e.isNotFound() -> ExitCode.NOT_FOUND;
            case dev.volumes.s3.S3NoSuchBucketException e -> ExitCode.NOT_FOUND;
            case FileAlreadyExistsException e -> ExitCode.EXISTS;
            case NoSpaceException e -> ExitCode.NO_SPACE;
            case DeviceInUseException e -> ExitCode.IN_USE;
            case ReadOnlyDeviceException e -> ExitCode.READ_ONLY;
            case IllegalArgumentException e -> ExitCode.USAGE;
            default -> ExitCode.FAILURE;
        };
    }

    /** A single line: the exception's message, or its type when it has none. */
    static String message(Throwable t) {
        String message = t.getMessage();
        if (message == null || message.isBlank()) {
            message = t.getClass().getSimpleName();
        }
        return message.replace('\n', ' ');
    }
}

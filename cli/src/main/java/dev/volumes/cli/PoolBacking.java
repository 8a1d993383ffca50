package dev.volumes.cli;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.volumes.device.Device;
import dev.volumes.device.FileDevice;
import dev.volumes.device.ForwardingDevice;
import dev.volumes.oci.ImageDevice;
import dev.volumes.oci.ImageOptions;
import dev.volumes.s3.AwsEnvironment;
import dev.volumes.s3.S3Client;
import dev.volumes.s3.S3Config;
import dev.volumes.s3.S3Device;
import dev.volumes.s3.S3DeviceOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a pool lives when it is not the default file {@code DIR/default.pool}: another file, an
 * S3 prefix ({@code s3://bucket/prefix}), an export of any NBD server ({@code nbd://host/export})
 * or, read-only, an OCI image of a pool
 * ({@code oci://registry/repository:tag}). Recorded as JSON in {@code DIR/pool.json} by
 * {@code pool create --backing} so every later command and {@code serve} open the same place.
 * Credentials are never recorded: S3 ones come from the AWS environment and files
 * ({@link AwsEnvironment}), registry ones from {@code ~/.docker/config.json}.
 *
 * @param uri the backing as the user gave it: a path, {@code s3://...}, {@code nbd://...} or {@code oci://...}
 * @param endpoint S3 endpoint override (e.g. an s3proxy or MinIO URL), or null for the AWS
 *     environment's ({@code AWS_ENDPOINT_URL_S3}, profile {@code endpoint_url}, else AWS)
 */
record PoolBacking(String uri, String endpoint) {

    /** The record's file name inside the data directory. */
    static final String FILE = "pool.json";

    PoolBacking {
        if (uri == null || uri.isBlank()) {
            throw new IllegalArgumentException("--backing needs a file path, s3://bucket/prefix or oci://registry/repo:tag");
        }
        if (endpoint != null && !isS3(uri)) {
            throw new IllegalArgumentException("--s3-endpoint only applies to an s3:// backing, not " + uri);
        }
        if (isS3(uri)) {
            s3Bucket(uri);
        } else if (isOci(uri)) {
            OciAddress.parse(uri);
        } else if (isNbd(uri)) {
            dev.volumes.nbd.NbdClient.builder().uri(uri); // validates the URI (exit 2 if malformed)
        }
    }

    private static boolean isS3(String uri) {
        return uri.startsWith("s3://");
    }

    private static boolean isOci(String uri) {
        return uri.startsWith("oci://");
    }

    /** {@code nbd://}, {@code nbds://}, {@code nbd+unix://}, {@code nbds+unix://}: an export of any NBD server. */
    static boolean isNbd(String uri) {
        return uri.startsWith("nbd://") || uri.startsWith("nbds://") || uri.startsWith("nbd+unix://")
                || uri.startsWith("nbds+unix://");
    }

    @JsonIgnore
    boolean readOnly() {
        return isOci(uri);
    }

    /** The recorded backing of {@code dir}, if {@code pool create --backing} wrote one. */
    static java.util.Optional<PoolBacking> recorded(DataDir dir) throws IOException {
        Path file = dir.root().resolve(FILE);
        if (!Files.exists(file)) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(ControlProtocol.JSON.readValue(file.toFile(), PoolBacking.class));
    }

    /** Writes the record into {@code dir} (atomically: temp file, then rename). */
    void record(DataDir dir) throws IOException {
        Path tmp = dir.root().resolve(FILE + ".tmp");
        ControlProtocol.JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
        Files.move(tmp, dir.root().resolve(FILE), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Creates a new backing device of {@code size} bytes for a new pool.
     *
     * @throws CliException EXISTS if a file or S3 device is already there; USAGE for an OCI backing
     */
    Device create(long size) throws IOException {
        if (isNbd(uri)) {
            Device export = openNbd();
            try {
                long available = export.size();
                if (size == Long.MAX_VALUE) {
                    return export; // no --size: all of it
                }
                if (size > available) {
                    throw new CliException(ExitCode.USAGE, "the NBD export " + uri + " holds " + Sizes.format(available)
                            + ", less than the " + Sizes.format(size) + " asked for (omit --size to use all of it)");
                }
                return size == available ? export : new Owning(dev.volumes.device.Devices.slice(export, 0, size), export);
            } catch (IOException | RuntimeException e) {
                export.close();
                throw e;
            }
        }
        if (isOci(uri)) {
            throw new CliException(ExitCode.USAGE, "an OCI image holds a frozen pool and is opened read-only, "
                    + "not created (freeze one with `volumes oci freeze-pool`)");
        }
        if (isS3(uri)) {
            S3Client client = s3Client();
            try {
                return new Owning(S3Device.create(s3Options(client).build(), size), client::close);
            } catch (IOException | RuntimeException e) {
                client.close();
                if (e.getMessage() != null && e.getMessage().contains("already exists")) {
                    throw new CliException(ExitCode.EXISTS, "a device already exists at " + uri + ": " + e.getMessage(), e);
                }
                throw e;
            }
        }
        return FileDevice.create(Path.of(uri), size);
    }

    /**
     * Opens the existing backing device: a file (locked), an S3 device (taking the writer
     * lease), or an OCI image (read-only, chunks pulled lazily).
     *
     * @throws dev.volumes.device.DeviceInUseException if another writer holds it
     */
    Device open() throws IOException {
        if (isNbd(uri)) {
            return openNbd();
        }
        if (isOci(uri)) {
            OciAddress address = OciAddress.parse(uri);
            return ImageDevice.open(address.client(), address.ref(), ImageOptions.defaults());
        }
        if (isS3(uri)) {
            S3Client client = s3Client();
            try {
                return new Owning(S3Device.open(s3Options(client).build()), client::close);
            } catch (dev.volumes.s3.S3NoSuchKeyException e) {
                client.close();
                throw new CliException(ExitCode.NOT_FOUND, "no pool device at " + uri
                        + " (create one with `volumes pool create --backing " + uri + "`)", e);
            } catch (IOException | RuntimeException e) {
                client.close();
                throw e;
            }
        }
        Path file = Path.of(uri);
        if (!Files.exists(file)) {
            throw new CliException(ExitCode.NOT_FOUND, "no pool file at " + file);
        }
        return FileDevice.open(file);
    }

    /**
     * The NBD export (the pool's whole backing; a pool created smaller than the export only uses
     * its head, and finds its size in its own superblock). Request timeout 60 s; a dropped
     * connection is retried for 60 s, acknowledged unflushed writes replayed (docs/nbd.md).
     */
    private Device openNbd() throws IOException {
        try {
            return dev.volumes.nbd.NbdClient.builder().uri(uri).reconnectDeadline(java.time.Duration.ofSeconds(60)).open();
        } catch (IOException e) {
            throw new IOException("cannot open the pool's NBD backing " + uri + ": " + Failures.message(e), e);
        }
    }

    private S3Client s3Client() throws IOException {
        S3Config.Builder config = AwsEnvironment.resolve();
        if (endpoint != null) {
            config.endpoint(URI.create(endpoint));
        }
        return S3Client.create(config.build());
    }

    private S3DeviceOptions.Builder s3Options(S3Client client) {
        String rest = uri.substring("s3://".length());
        int slash = rest.indexOf('/');
        String prefix = slash < 0 ? "" : rest.substring(slash + 1);
        if (!prefix.isEmpty() && !prefix.endsWith("/")) {
            prefix += "/";
        }
        return S3DeviceOptions.builder(client, s3Bucket(uri), prefix);
    }

    private static String s3Bucket(String uri) {
        String rest = uri.substring("s3://".length());
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        if (!bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw new IllegalArgumentException("bad S3 bucket name '" + bucket + "' in " + uri
                    + " (expected s3://bucket/prefix, bucket 3-63 lower-case letters, digits, '.', '-')");
        }
        return bucket;
    }

    /** A device that closes {@code owned} (the device it slices, its S3 client) after itself. */
    private static final class Owning extends ForwardingDevice {
        private final java.io.Closeable owned;

        Owning(Device device, java.io.Closeable owned) {
            super(device);
            this.owned = owned;
        }

        @Override
        public void close() throws IOException {
            try {
                delegate().close();
            } finally {
                owned.close();
            }
        }
    }
}

package dev.volumes.s3;

import dev.volumes.device.DeviceInUseException;
import dev.volumes.device.UnsupportedDeviceOperationException;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The one-writer protocol on an {@link S3Device}'s metadata object (docs/s3.md section 3): take
 * the writer epoch at create/open with a conditional PUT, check at each sync start that the
 * object is still ours (HEAD, ETag), commit with {@code If-Match} the ETag we last wrote, and
 * resolve ambiguous answers (a PUT applied whose answer was lost, then refused on retry) by
 * re-reading the object and comparing it with what we wrote.
 *
 * <p>Not thread-safe: the device calls it under its sync lock (or before it is published).
 * {@link LostException} means another writer holds the object now.
 */
final class WriterLease {

    /** Another writer has replaced the metadata object: this writer is deposed. */
    static final class LostException extends IOException {
        LostException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final S3Client client;
    private final String bucket;
    private final String key;
    private final String where;
    private final boolean fenced;
    private DeviceMeta meta;
    private String etag;

    private WriterLease(S3DeviceOptions o, boolean fenced, DeviceMeta meta, String etag) {
        this.client = o.client();
        this.bucket = o.bucket();
        this.key = o.prefix() + "meta";
        this.where = "s3://" + bucket + "/" + key;
        this.fenced = fenced;
        this.meta = meta;
        this.etag = etag;
    }

    /** Stores new metadata with {@code If-None-Match: *}; a device already there is DeviceInUse. */
    static WriterLease create(S3DeviceOptions o, long size) throws IOException {
        boolean fenced = probe(o);
        WriterLease lease = new WriterLease(o, fenced, new DeviceMeta(size, o.chunkSize(), 1, newWriterId()), null);
        try {
            lease.etag = fenced ? lease.client.putObjectIfAbsent(lease.bucket, lease.key, lease.meta.encode())
                    : lease.client.putObject(lease.bucket, lease.key, lease.meta.encode());
        } catch (S3PreconditionFailedException e) {
            if (!lease.reReadIsOurs(lease.meta)) {
                throw new DeviceInUseException(lease.where, "a device already exists at " + lease.where
                        + "; open it instead of creating one", e);
            }
        }
        return lease;
    }

    /**
     * Reads the metadata; for writing also takes epoch + 1 with {@code If-Match}.
     *
     * @throws DeviceInUseException if held by another writer (without takeOver) or a concurrent open won
     * @throws S3NoSuchKeyException if there is no device
     */
    static WriterLease open(S3DeviceOptions o) throws IOException {
        String key = o.prefix() + "meta";
        String where = "s3://" + o.bucket() + "/" + key;
        S3Client.S3Object obj = o.client().getObject(o.bucket(), key);
        DeviceMeta current = DeviceMeta.decode(obj.data(), where);
        if (o.readOnly()) {
            return new WriterLease(o, false, current, obj.etag());
        }
        if (!current.writer().equals(DeviceMeta.NO_WRITER) && !o.takeOver()) {
            throw new DeviceInUseException(where, "device " + where + " is held by writer " + current.writer()
                    + " (epoch " + current.epoch() + "); if that writer is gone, open with takeOver");
        }
        boolean fenced = probe(o);
        DeviceMeta mine = new DeviceMeta(current.size(), current.chunkSize(), current.epoch() + 1, newWriterId());
        WriterLease lease = new WriterLease(o, fenced, mine, null);
        if (!fenced) {
            lease.etag = lease.client.putObject(o.bucket(), key, mine.encode());
            return lease;
        }
        try {
            lease.etag = lease.client.putObjectIfMatch(o.bucket(), key, mine.encode(), obj.etag());
        } catch (S3PreconditionFailedException e) {
            if (!lease.reReadIsOurs(mine)) {
                throw new DeviceInUseException(where, "another writer opened " + where + " at the same time", e);
            }
        }
        return lease;
    }

    DeviceMeta meta() {
        return meta;
    }

    /** Cheap check before a sync uploads anything: the object still has the ETag we wrote. */
    void checkStillOurs() throws IOException {
        if (!fenced) {
            return;
        }
        String current = client.headObject(bucket, key).map(S3Client.ObjectInfo::etag).orElse("");
        if (!unquote(current).equals(unquote(etag))) {
            throw new LostException("the metadata object changed (ETag " + current + ", ours " + etag + ")", null);
        }
    }

    /** Replaces the metadata with {@code next}, conditionally on the ETag we last wrote. */
    void commit(DeviceMeta next) throws IOException {
        if (!fenced) {
            etag = client.putObject(bucket, key, next.encode());
            meta = next;
            return;
        }
        try {
            etag = client.putObjectIfMatch(bucket, key, next.encode(), etag);
            meta = next;
        } catch (S3PreconditionFailedException e) {
            S3Client.S3Object now;
            try {
                now = client.getObject(bucket, key);
            } catch (S3NoSuchKeyException gone) {
                throw new LostException("its metadata object was deleted", e);
            }
            DeviceMeta theirs = DeviceMeta.decode(now.data(), where);
            if (!theirs.equals(next)) {
                throw new LostException("writer " + theirs.writer() + " took it over at epoch " + theirs.epoch()
                        + " (ours: " + meta.epoch() + ")", e);
            }
            etag = now.etag(); // our PUT landed; its retry was refused
            meta = next;
        }
    }

    /** After a refused conditional PUT: whether the object now is exactly {@code mine} (our own landed). */
    private boolean reReadIsOurs(DeviceMeta mine) throws IOException {
        S3Client.S3Object now = client.getObject(bucket, key);
        if (!DeviceMeta.decode(now.data(), where).equals(mine)) {
            return false;
        }
        etag = now.etag();
        return true;
    }

    private static boolean probe(S3DeviceOptions o) throws IOException {
        if (o.client().supportsConditionalWrites(o.bucket(), o.prefix() + "probe/")) {
            return true;
        }
        if (!o.allowUnsafeWithoutConditionalWrites()) {
            throw new UnsupportedDeviceOperationException("s3://" + o.bucket() + "/" + o.prefix(), "open for write",
                    "the S3 server does not honour conditional writes (If-None-Match/If-Match), so a second writer "
                            + "could not be refused; set allowUnsafeWithoutConditionalWrites to accept that risk");
        }
        return false;
    }

    private static String newWriterId() {
        byte[] b = new byte[12];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static String unquote(String etag) {
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        return e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"") ? e.substring(1, e.length() - 1) : e;
    }
}

package dev.volumes.oci;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The engine behind freeze and commit: reads chunk windows in parallel, turns all-zero windows into
 * holes, hashes the rest and pushes each distinct digest once (the registry's HEAD skips blobs it
 * already has), then publishes config and manifest.
 *
 * <p>Concurrency: {@code parallelism} virtual threads take chunk indexes from a shared cursor; each
 * owns one chunk buffer, so memory is {@code parallelism * chunkSize}. A digest is claimed by the
 * first thread that sees it (a concurrent set), so identical chunks are uploaded once. The first
 * failure stops the other workers and is thrown with later ones suppressed. Progress callbacks are
 * serialized by the monitor of this object.
 */
final class ChunkPusher {

    /** Fills {@code buf[0, length)} with the bytes of chunk {@code index}. */
    interface Source {
        void read(int index, byte[] buf, int length) throws IOException;
    }

    private final RegistryClient client;
    private final String repository;
    private final FreezeOptions options;
    private final ConcurrentHashMap<Digest, Boolean> claimed = new ConcurrentHashMap<>();
    private final AtomicLong chunksDone = new AtomicLong();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong blobsUploaded = new AtomicLong();
    private final AtomicLong bytesUploaded = new AtomicLong();
    private final AtomicLong blobsSkipped = new AtomicLong();
    private volatile long chunksTotal;

    ChunkPusher(RegistryClient client, String repository, FreezeOptions options) {
        this.client = client;
        this.repository = repository;
        this.options = options;
    }

    /** Counts a distinct blob that needed no upload (already present, or mounted). */
    void countSkipped() {
        blobsSkipped.incrementAndGet();
    }

    /** Marks {@code digest} as handled so {@link #push} does not upload it again. */
    boolean claim(Digest digest) {
        return claimed.putIfAbsent(digest, Boolean.TRUE) == null;
    }

    /**
     * Reads and pushes chunks {@code indexes} of an image of {@code size} bytes in chunks of
     * {@code chunkSize}; stores each one's digest (null for all zeros) into {@code out[index]}.
     */
    void push(int[] indexes, long size, int chunkSize, Source source, Digest[] out) throws IOException {
        chunksTotal += indexes.length;
        AtomicInteger cursor = new AtomicInteger();
        AtomicReference<IOException> failure = new AtomicReference<>();
        int workers = Math.min(options.parallelism(), Math.max(indexes.length, 1));
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            threads.add(Thread.ofVirtual().name("oci-push-" + w).start(() -> {
                byte[] buf = new byte[chunkSize];
                int k;
                while (failure.get() == null && (k = cursor.getAndIncrement()) < indexes.length) {
                    int index = indexes[k];
                    int length = (int) Math.min(chunkSize, size - (long) index * chunkSize);
                    try {
                        source.read(index, buf, length);
                        bytesRead.addAndGet(length);
                        out[index] = zero(buf, length) ? null : upload(buf, length);
                        chunksDone.incrementAndGet();
                        report();
                    } catch (IOException | RuntimeException e) {
                        IOException io = e instanceof IOException x ? x
                                : new IOException("chunk " + index + " failed: " + e, e);
                        if (!failure.compareAndSet(null, io)) {
                            failure.get().addSuppressed(io);
                        }
                    }
                }
            }));
        }
        try {
            for (Thread t : threads) {
                t.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while pushing chunks");
        }
        if (failure.get() != null) {
            throw failure.get();
        }
    }

    private Digest upload(byte[] buf, int length) throws IOException {
        Digest d = Digest.sha256(buf, 0, length);
        if (claim(d)) {
            if (client.pushHashed(repository, d, buf, 0, length)) {
                blobsUploaded.incrementAndGet();
                bytesUploaded.addAndGet(length);
            } else {
                blobsSkipped.incrementAndGet();
            }
        }
        return d;
    }

    static boolean zero(byte[] buf, int length) {
        for (int i = 0; i < length; i++) {
            if (buf[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private synchronized void report() {
        options.progress().accept(new FreezeOptions.Progress(chunksDone.get(), chunksTotal, bytesRead.get(),
                blobsUploaded.get(), bytesUploaded.get(), blobsSkipped.get()));
    }

    /** Pushes the config blob and puts the manifest under {@code ref}; returns what was done. */
    FreezeResult publish(ImageRef ref, ImageConfig config, String source) throws IOException {
        byte[] configBytes = ImageFormat.encodeConfig(config);
        Digest configDigest = Digest.sha256(configBytes);
        client.pushHashed(ref.repository(), configDigest, configBytes, 0, configBytes.length);
        Map<String, String> annotations = new TreeMap<>();
        Instant created = options.created() != null ? options.created() : Instant.now().truncatedTo(ChronoUnit.SECONDS);
        annotations.put(ImageFormat.CREATED, DateTimeFormatter.ISO_INSTANT.format(created));
        if (source != null && !source.isEmpty()) {
            annotations.put(ImageFormat.SOURCE, source);
        }
        byte[] manifest = ImageFormat.encodeManifest(config,
                Descriptor.of(ImageFormat.CONFIG_MEDIA_TYPE, configDigest, configBytes.length), annotations);
        Digest digest = client.putManifest(ref, RegistryClient.OCI_MANIFEST, manifest);
        long holes = config.chunks().stream().filter(c -> c == null).count();
        return new FreezeResult(ref.withDigest(digest), config, config.chunkCount() - holes, holes,
                ImageFormat.layers(config).size(), blobsUploaded.get(), bytesUploaded.get(), blobsSkipped.get());
    }

    /**
     * Makes every blob in {@code reused} (chunks of {@code b}) present in this pusher's repository:
     * already there (HEAD), else a cross-repository mount in the same registry, else pulled from
     * {@code b}'s registry (verified) and pushed. Present or mounted blobs count as skipped.
     */
    void carryOver(ImageDevice b, java.util.Set<Digest> reused) throws IOException {
        boolean sameRegistry = client.host().equals(b.client().host());
        java.util.Map<Digest, Integer> length = new java.util.HashMap<>();
        for (int i = 0; i < b.config().chunkCount(); i++) {
            Digest d = b.config().chunks().get(i);
            if (d != null) {
                length.putIfAbsent(d, b.config().chunkLength(i));
            }
        }
        for (Digest d : reused) {
            if (client.blobSize(repository, d).isPresent()) {
                countSkipped();
            } else if (sameRegistry && client.mountBlob(repository, d, b.ref().repository())) {
                countSkipped();
            } else {
                byte[] bytes = b.client().pullBlob(b.ref().repository(), d, length.get(d));
                client.pushBlob(repository, d, bytes, 0, bytes.length);
            }
        }
    }
}

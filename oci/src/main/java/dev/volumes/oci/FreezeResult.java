package dev.volumes.oci;

/**
 * What a freeze or commit pushed.
 *
 * @param ref the manifest, by digest
 * @param config the config that was pushed
 * @param dataChunks chunk windows holding data
 * @param holeChunks chunk windows that are holes (never stored)
 * @param distinctBlobs distinct chunk blobs the image references (its layers)
 * @param blobsUploaded chunk blobs whose bytes were sent by this call
 * @param bytesUploaded bytes of chunk blobs sent by this call
 * @param blobsSkipped distinct chunk blobs the registry already had, or that were mounted
 */
public record FreezeResult(ImageRef ref, ImageConfig config, long dataChunks, long holeChunks, long distinctBlobs,
        long blobsUploaded, long bytesUploaded, long blobsSkipped) {}

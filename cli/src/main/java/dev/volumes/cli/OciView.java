package dev.volumes.cli;

import dev.volumes.oci.FreezeResult;

/**
 * What {@code oci freeze}, {@code oci freeze-pool} and {@code oci commit} pushed, as printed and
 * carried by the control API.
 *
 * @param image the image pushed, {@code oci://registry/repo:tag}
 * @param digest the manifest digest ({@code sha256:...})
 * @param source the volume, snapshot, overlay or pool frozen
 * @param size logical size in bytes
 * @param chunkSize chunk size in bytes
 * @param dataChunks chunks holding data
 * @param holeChunks chunks that are holes (not stored)
 * @param blobsUploaded chunk blobs sent by this call
 * @param bytesUploaded bytes of those blobs
 * @param blobsSkipped blobs the registry already had (or mounted)
 */
record OciView(String image, String digest, String source, long size, int chunkSize, long dataChunks,
        long holeChunks, long blobsUploaded, long bytesUploaded, long blobsSkipped) {

    static OciView of(OciAddress target, String source, FreezeResult r) {
        return new OciView(target.toString(), r.ref().reference(), source, r.config().size(), r.config().chunkSize(),
                r.dataChunks(), r.holeChunks(), r.blobsUploaded(), r.bytesUploaded(), r.blobsSkipped());
    }
}

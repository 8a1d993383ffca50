package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry client's endpoints against a real docker-registry (distribution 2.8). */
class RegistryClientIT {

    @TempDir
    Path tmp;

    @Test
    void chunkedUploadRangeReadMountAndErrors() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false)
                    .chunkedUpload(100 << 10, 64 << 10).build();
            byte[] blob = new byte[300_001];
            new Random(5).nextBytes(blob);
            Digest d = Digest.sha256(blob);
            assertThat(client.blobSize("c/one", d)).isEmpty();
            assertThat(client.pushBlob("c/one", d, blob, 0, blob.length)).isTrue(); // 4 PATCHes + closing PUT
            assertThat(client.pushBlob("c/one", d, blob, 0, blob.length)).isFalse(); // already there
            assertThat(client.blobSize("c/one", d)).contains((long) blob.length);
            assertThat(client.pullBlob("c/one", d, blob.length)).isEqualTo(blob);
            assertThat(client.pullBlobRange("c/one", d, 70_000, 1000)).isEqualTo(Arrays.copyOfRange(blob, 70_000, 71_000));
            assertThatThrownBy(() -> client.pullBlob("c/one", d, 1000)).hasMessageContaining("more than the 1000 allowed");

            assertThat(client.mountBlob("c/two", d, "c/one")).isTrue();
            assertThat(client.blobSize("c/two", d)).contains((long) blob.length);
            Digest absent = Digest.sha256("absent".getBytes(StandardCharsets.UTF_8));
            assertThat(client.mountBlob("c/two", absent, "c/one")).isFalse(); // declined: caller must copy

            assertThatThrownBy(() -> client.pullBlob("c/one", absent, 10)).isInstanceOfSatisfying(RegistryException.class,
                    e -> assertThat(e.isNotFound()).isTrue());
            assertThatThrownBy(() -> client.getManifest(ImageRef.parse("c/one:nope")))
                    .isInstanceOfSatisfying(RegistryException.class, e -> assertThat(e.codes()).contains("MANIFEST_UNKNOWN"));
            assertThatThrownBy(() -> client.pushBlob("c/one", absent, blob, 0, 10))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not hash");
        }
    }

    @Test
    void manifestsTagsPaginationReferrersFallbackAndRetention() throws IOException {
        try (TestRegistry reg = TestRegistry.open(tmp.resolve("reg"))) {
            RegistryClient client = RegistryClient.builder(reg.uri()).useDockerConfig(false).build();
            FreezeResult a = OciImages.freeze(RegistryAuthIT.sample(1), client, ImageRef.parse("r/vol:a"), RegistryAuthIT.options());
            for (String t : List.of("b", "c", "d", "e")) {
                OciImages.freeze(RegistryAuthIT.sample(1), client, ImageRef.parse("r/vol:" + t), RegistryAuthIT.options());
            }
            FreezeResult other = OciImages.freeze(RegistryAuthIT.sample(2), client, ImageRef.parse("r/vol:old"),
                    RegistryAuthIT.options());
            assertThat(client.listTags("r/vol", 2)).containsExactlyInAnyOrder("a", "b", "c", "d", "e", "old");
            assertThat(client.listTags("r/none")).isEmpty();

            Descriptor head = client.headManifest(ImageRef.parse("r/vol:a")).orElseThrow();
            assertThat(head.digest().value()).isEqualTo(a.ref().reference());
            assertThat(client.getManifest(a.ref()).digest()).isEqualTo(head.digest());
            assertThat(client.headManifest(ImageRef.parse("r/vol:zzz"))).isEmpty();

            // referrers: distribution 2.8 has no referrers API (404), so the tag schema is used
            Digest subject = head.digest();
            assertThat(client.referrers("r/vol", subject, null)).isEmpty();
            String index = "{\"schemaVersion\":2,\"mediaType\":\"" + RegistryClient.OCI_INDEX + "\",\"manifests\":[{"
                    + "\"mediaType\":\"" + RegistryClient.OCI_MANIFEST + "\",\"digest\":\"" + other.ref().reference()
                    + "\",\"size\":" + client.getManifest(other.ref()).body().length + ",\"artifactType\":\""
                    + ImageFormat.ARTIFACT_TYPE + "\"}]}";
            client.putManifest(new ImageRef("r/vol", "sha256-" + subject.hex()), RegistryClient.OCI_INDEX,
                    index.getBytes(StandardCharsets.UTF_8));
            assertThat(client.referrers("r/vol", subject, ImageFormat.ARTIFACT_TYPE)).singleElement()
                    .satisfies(d -> assertThat(d.digest().value()).isEqualTo(other.ref().reference()));
            assertThat(client.referrers("r/vol", subject, "application/other")).isEmpty();

            // a manifest with a subject: 2.8 does not process it, so the client maintains the tag index
            byte[] empty = "{}".getBytes(StandardCharsets.UTF_8);
            Digest emptyDigest = Digest.sha256(empty);
            client.pushBlob("r/vol", emptyDigest, empty, 0, empty.length);
            String note = "{\"schemaVersion\":2,\"mediaType\":\"" + RegistryClient.OCI_MANIFEST + "\",\"artifactType\":"
                    + "\"application/vnd.example.note\",\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
                    + "\"digest\":\"" + emptyDigest + "\",\"size\":2},\"layers\":[],\"subject\":{\"mediaType\":\""
                    + RegistryClient.OCI_MANIFEST + "\",\"digest\":\"" + subject + "\",\"size\":" + head.size() + "}}";
            Digest noteDigest = client.putManifest(new ImageRef("r/vol", "note"), RegistryClient.OCI_MANIFEST,
                    note.getBytes(StandardCharsets.UTF_8));
            assertThat(client.referrers("r/vol", subject, "application/vnd.example.note")).singleElement()
                    .satisfies(d -> assertThat(d.digest()).isEqualTo(noteDigest));
            assertThat(client.referrers("r/vol", subject, null)).hasSize(2); // the earlier entry is kept
            client.putManifest(new ImageRef("r/vol", "note"), RegistryClient.OCI_MANIFEST, note.getBytes(StandardCharsets.UTF_8));
            assertThat(client.referrers("r/vol", subject, null)).hasSize(2); // no duplicate on a re-push
            client.deleteManifest(new ImageRef("r/vol", noteDigest.value()));

            // retention: keep a..e (all one manifest); "old" and the referrers index go
            Retention.Report dry = Retention.apply(client, "r/vol", t -> t.length() == 1, true);
            assertThat(dry.removed()).containsExactlyInAnyOrder("old", "sha256-" + subject.hex());
            assertThat(dry.deletedManifests()).contains(Digest.of(other.ref().reference()));
            // sample(2)'s random chunks are only in "old"; the shared 0xA5 chunk stays reachable
            assertThat(dry.unreachableBlobs()).hasSize(3);
            assertThat(client.listTags("r/vol")).contains("old");
            Retention.Report done = Retention.apply(client, "r/vol", t -> t.length() == 1, false);
            assertThat(done.unreachableBlobs()).isEqualTo(dry.unreachableBlobs());
            assertThat(client.listTags("r/vol")).containsExactlyInAnyOrder("a", "b", "c", "d", "e");
            assertThat(client.headManifest(other.ref())).isEmpty();

            client.deleteManifest(ImageRef.parse("r/vol:c")); // by tag: resolves, deletes the manifest
            assertThat(client.listTags("r/vol")).isEmpty();
            assertThatThrownBy(() -> client.deleteManifest(ImageRef.parse("r/vol:c")))
                    .isInstanceOfSatisfying(RegistryException.class, e -> assertThat(e.isNotFound()).isTrue());
        }
    }
}

package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class OciAddressTest {

    @Test
    void parsesRegistryRepositoryAndTagOrDigest() {
        OciAddress a = OciAddress.parse("oci://registry.example:5000/team/db:v1");
        assertThat(a.registry()).isEqualTo("registry.example:5000");
        assertThat(a.repository()).isEqualTo("team/db");
        assertThat(a.reference()).isEqualTo("v1");
        assertThat(a.base().toString()).isEqualTo("https://registry.example:5000/");
        assertThat(a.toString()).isEqualTo("oci://registry.example:5000/team/db:v1");

        String digest = "sha256:" + "ab".repeat(32);
        OciAddress d = OciAddress.parse("127.0.0.1:5000/db@" + digest);
        assertThat(d.reference()).isEqualTo(digest);
        assertThat(d.base().toString()).isEqualTo("http://127.0.0.1:5000/");
        assertThat(d.toString()).isEqualTo("oci://127.0.0.1:5000/db@" + digest);

        OciAddress repo = OciAddress.parse("localhost:5000/a/b");
        assertThat(repo.reference()).isNull();
        assertThat(repo.loopback()).isTrue();
        assertThatThrownBy(repo::ref).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs a tag");
    }

    @Test
    void rejectsWhatIsNotAnImage() {
        assertThatThrownBy(() -> OciAddress.parse("oci://just-a-host")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("HOST[:PORT]/REPOSITORY");
        assertThatThrownBy(() -> OciAddress.parse("host/Upper:tag")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bad repository");
        assertThatThrownBy(() -> OciAddress.parse("host/repo:bad tag")).isInstanceOf(IllegalArgumentException.class);
    }
}

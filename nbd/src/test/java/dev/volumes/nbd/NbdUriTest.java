package dev.volumes.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NbdUriTest {

    @Test
    void tcpUriWithPortAndPercentEncodedExport() {
        NbdUri u = NbdUri.parse("nbd://example.com:10900/my%20disk");
        assertThat(u.host()).isEqualTo("example.com");
        assertThat(u.port()).isEqualTo(10900);
        assertThat(u.exportName()).isEqualTo("my disk");
        assertThat(u.tls()).isFalse();
        assertThat(u.socket()).isNull();
    }

    @Test
    void defaultsArePort10809AndTheEmptyExport() {
        NbdUri u = NbdUri.parse("nbd://127.0.0.1");
        assertThat(u.port()).isEqualTo(10809);
        assertThat(u.exportName()).isEmpty();
        assertThat(NbdUri.parse("nbd://127.0.0.1/").exportName()).isEmpty();
        assertThat(NbdUri.parse("nbd://[::1]:99/a/b").host()).isEqualTo("::1");
        assertThat(NbdUri.parse("nbd://[::1]:99/a/b").exportName()).isEqualTo("a/b");
    }

    @Test
    void tlsSchemesAndQueryParameters() {
        NbdUri u = NbdUri.parse("nbds://h/disk?tls-certificates=/etc/pki/nbd&tls-verify-peer=false&tls-hostname=srv");
        assertThat(u.tls()).isTrue();
        assertThat(u.tlsCertificates()).isEqualTo(Path.of("/etc/pki/nbd"));
        assertThat(u.tlsVerifyPeer()).isFalse();
        assertThat(u.tlsHostname()).isEqualTo("srv");
        assertThat(NbdUri.parse("nbds://h/disk").tlsVerifyPeer()).isTrue();
    }

    @Test
    void unixSchemesNeedASocketAndNoHost() {
        NbdUri u = NbdUri.parse("nbd+unix:///vol?socket=/run/volumes/nbd.sock");
        assertThat(u.socket()).isEqualTo(Path.of("/run/volumes/nbd.sock"));
        assertThat(u.exportName()).isEqualTo("vol");
        assertThat(u.host()).isNull();
        assertThat(NbdUri.parse("nbds+unix:///?socket=/s").tls()).isTrue();
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///vol")).hasMessageContaining("socket=");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix://host/vol?socket=/s")).hasMessageContaining("no host");
    }

    @Test
    void badUrisAreRefusedWithTheReason() {
        assertThatThrownBy(() -> NbdUri.parse("http://h/x")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("scheme");
        assertThatThrownBy(() -> NbdUri.parse("nbd:///x")).hasMessageContaining("host");
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/x?tls-psk-file=/k")).hasMessageContaining("PSK");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/x?socket=a&socket=b")).hasMessageContaining("twice");
    }
}

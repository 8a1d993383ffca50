package dev.volumes.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class AddressesTest {

    @Test
    void parsesHostPortForms() {
        assertThat(Addresses.parse("127.0.0.1:10809", "--listen").getPort()).isEqualTo(10809);
        assertThat(Addresses.parse(":0", "--listen").getHostString()).isEqualTo("127.0.0.1");
        assertThat(Addresses.parse("[::1]:80", "--listen").getAddress().isLoopbackAddress()).isTrue();
        assertThat(Addresses.parse("[::1]:80", "--listen").getAddress().getAddress()).hasSize(16);
    }

    @Test
    void rejectsMissingOrBadPortsNamingTheOption() {
        assertThatThrownBy(() -> Addresses.parse("localhost", "--metrics")).hasMessageContaining("--metrics");
        assertThatThrownBy(() -> Addresses.parse("h:x", "--listen")).hasMessageContaining("not a number");
        assertThatThrownBy(() -> Addresses.parse("h:70000", "--listen")).hasMessageContaining("out of range");
    }
}

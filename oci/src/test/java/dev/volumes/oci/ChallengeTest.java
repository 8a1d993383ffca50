package dev.volumes.oci;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ChallengeTest {

    @Test
    void bearerChallengeWithQuotedCommasAndEscapes() {
        Challenge c = Challenge.parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                + "scope=\"repository:a/b:pull,push repository:c:pull\",error=\"say \\\"hi\\\"\"").orElseThrow();
        assertThat(c.scheme()).isEqualTo("bearer");
        assertThat(c.param("realm")).contains("https://auth.example/token");
        assertThat(c.param("service")).contains("registry.example");
        assertThat(c.param("scope")).contains("repository:a/b:pull,push repository:c:pull");
        assertThat(c.param("error")).contains("say \"hi\"");
    }

    @Test
    void basicUnquotedAndOddSpacing() {
        Challenge c = Challenge.parse("  basic   Realm=volumes , charset=\"UTF-8\"").orElseThrow();
        assertThat(c.scheme()).isEqualTo("basic");
        assertThat(c.param("realm")).contains("volumes");
        assertThat(c.param("charset")).contains("UTF-8");
    }

    @Test
    void blankOrMissingHeadersParseToNothing() {
        assertThat(Challenge.parse(null)).isEmpty();
        assertThat(Challenge.parse("   ")).isEmpty();
        assertThat(Challenge.parse("Bearer").orElseThrow().params()).isEmpty();
        assertThat(Challenge.parse("Bearer realm=\"unterminated").orElseThrow().param("realm")).contains("unterminated");
    }
}

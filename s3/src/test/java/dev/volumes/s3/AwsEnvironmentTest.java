package dev.volumes.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Credentials, region and endpoint resolution from an injected environment and home directory. */
class AwsEnvironmentTest {

    @TempDir
    Path home;

    private void files(String credentials, String config) throws IOException {
        Files.createDirectories(home.resolve(".aws"));
        Files.writeString(home.resolve(".aws/credentials"), credentials);
        Files.writeString(home.resolve(".aws/config"), config);
    }

    @Test
    void environmentVariablesWinOverFiles() throws IOException {
        files("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n", "[default]\nregion = eu-west-1\n");
        S3Config c = AwsEnvironment.resolve(Map.of("AWS_ACCESS_KEY_ID", "ENVKEY", "AWS_SECRET_ACCESS_KEY", "envsecret",
                "AWS_SESSION_TOKEN", "tok", "AWS_REGION", "ap-south-1", "AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), home).build();
        assertThat(c.credentials()).isEqualTo(new AwsCredentials("ENVKEY", "envsecret", "tok"));
        assertThat(c.region()).isEqualTo("ap-south-1");
        assertThat(c.endpoint()).isEqualTo(URI.create("http://127.0.0.1:9000"));
        assertThat(c.pathStyle("bucket")).isTrue();
        assertThat(c.toString()).doesNotContain("envsecret").doesNotContain("tok]");
    }

    @Test
    void namedProfileFromCredentialsAndConfigFiles() throws IOException {
        files("""
                [default]
                aws_access_key_id = DEF
                aws_secret_access_key = defsecret
                # comment
                [work]
                aws_access_key_id = WORK
                aws_secret_access_key = worksecret
                aws_session_token = worktoken
                """, """
                [default]
                region = us-west-2
                [profile work]
                region = eu-central-1
                endpoint_url = https://objects.example.net
                s3 =
                  addressing_style = path
                """);
        S3Config c = AwsEnvironment.resolve(Map.of("AWS_PROFILE", "work"), home).build();
        assertThat(c.credentials()).isEqualTo(new AwsCredentials("WORK", "worksecret", "worktoken"));
        assertThat(c.region()).isEqualTo("eu-central-1");
        assertThat(c.endpoint()).isEqualTo(URI.create("https://objects.example.net"));
        assertThat(c.addressing()).isEqualTo(S3Config.Addressing.PATH);
        S3Config d = AwsEnvironment.resolve(Map.of(), home).build();
        assertThat(d.credentials().accessKeyId()).isEqualTo("DEF");
        assertThat(d.region()).isEqualTo("us-west-2");
        assertThat(d.endpoint()).isEqualTo(URI.create("https://s3.us-west-2.amazonaws.com"));
        assertThat(d.pathStyle("my-bucket")).isFalse();
        assertThat(d.pathStyle("My_Bucket")).isTrue();
    }

    @Test
    void defaultRegionVariableAndS3SpecificEndpoint() throws IOException {
        files("[p]\naws_access_key_id = A\naws_secret_access_key = s\n", "");
        S3Config c = AwsEnvironment.resolve(Map.of("AWS_PROFILE", "p", "AWS_DEFAULT_REGION", "sa-east-1",
                "AWS_ENDPOINT_URL", "https://generic.example", "AWS_ENDPOINT_URL_S3", "https://s3only.example"), home).build();
        assertThat(c.region()).isEqualTo("sa-east-1");
        assertThat(c.endpoint()).isEqualTo(URI.create("https://s3only.example"));
    }

    @Test
    void credentialsInConfigFileProfileSection() throws IOException {
        files("", "[profile cfg]\naws_access_key_id = CFG\naws_secret_access_key = cfgsecret\nregion = us-east-2\n");
        S3Config c = AwsEnvironment.resolve(Map.of("AWS_PROFILE", "cfg"), home).build();
        assertThat(c.credentials().accessKeyId()).isEqualTo("CFG");
        assertThat(c.region()).isEqualTo("us-east-2");
    }

    @Test
    void missingCredentialsSayWhereTheyWereLookedFor() {
        assertThatThrownBy(() -> AwsEnvironment.resolve(Map.of("AWS_PROFILE", "nope"), home))
                .isInstanceOf(IOException.class).hasMessageContaining("AWS_ACCESS_KEY_ID")
                .hasMessageContaining("'nope'").hasMessageContaining(".aws/credentials");
    }
}

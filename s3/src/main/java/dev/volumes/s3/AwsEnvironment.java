package dev.volumes.s3;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Resolves S3 settings the way AWS tools do, from an injectable environment and home directory:
 * <ul>
 *   <li>credentials: {@code AWS_ACCESS_KEY_ID} + {@code AWS_SECRET_ACCESS_KEY} (+
 *       {@code AWS_SESSION_TOKEN}); else the profile ({@code AWS_PROFILE}, default
 *       {@code default}) in {@code ~/.aws/credentials} ({@code AWS_SHARED_CREDENTIALS_FILE}); else
 *       the same profile in {@code ~/.aws/config} ({@code AWS_CONFIG_FILE}, sections
 *       {@code [profile NAME]} or {@code [default]});</li>
 *   <li>region: {@code AWS_REGION}, {@code AWS_DEFAULT_REGION}, the profile's {@code region},
 *       else {@code us-east-1};</li>
 *   <li>endpoint: {@code AWS_ENDPOINT_URL_S3}, {@code AWS_ENDPOINT_URL}, the profile's
 *       {@code endpoint_url}, else {@code https://s3.REGION.amazonaws.com}; addressing from the
 *       profile's {@code s3 = addressing_style = path|virtual|auto}.</li>
 * </ul>
 * Errors name the files and variables consulted, never a secret. Stateless.
 */
public final class AwsEnvironment {

    private AwsEnvironment() {}

    /** Settings from the real process environment and {@code user.home}. */
    public static S3Config.Builder resolve() throws IOException {
        return resolve(System.getenv(), Path.of(System.getProperty("user.home")));
    }

    /**
     * Settings from {@code env} and the AWS files under {@code home}.
     *
     * @throws IOException if no credentials are found or a file cannot be read
     */
    public static S3Config.Builder resolve(Map<String, String> env, Path home) throws IOException {
        String profile = nonEmpty(env.get("AWS_PROFILE"), "default");
        Path credentialsFile = env.containsKey("AWS_SHARED_CREDENTIALS_FILE")
                ? Path.of(env.get("AWS_SHARED_CREDENTIALS_FILE")) : home.resolve(".aws/credentials");
        Path configFile = env.containsKey("AWS_CONFIG_FILE") ? Path.of(env.get("AWS_CONFIG_FILE"))
                : home.resolve(".aws/config");
        Map<String, Map<String, String>> creds = ini(credentialsFile);
        Map<String, Map<String, String>> config = ini(configFile);
        Map<String, String> credSection = creds.getOrDefault(profile, Map.of());
        Map<String, String> configSection = profile.equals("default")
                ? config.getOrDefault("default", config.getOrDefault("profile default", Map.of()))
                : config.getOrDefault("profile " + profile, Map.of());

        AwsCredentials credentials;
        if (has(env, "AWS_ACCESS_KEY_ID") && has(env, "AWS_SECRET_ACCESS_KEY")) {
            credentials = new AwsCredentials(env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"),
                    env.get("AWS_SESSION_TOKEN"));
        } else if (credSection.containsKey("aws_access_key_id")) {
            credentials = fromSection(credSection, "profile '" + profile + "' in " + credentialsFile);
        } else if (configSection.containsKey("aws_access_key_id")) {
            credentials = fromSection(configSection, "profile '" + profile + "' in " + configFile);
        } else {
            throw new IOException("no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and profile '"
                    + profile + "' has no aws_access_key_id in " + credentialsFile + " or " + configFile);
        }

        String region = firstNonEmpty(env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION"), configSection.get("region"),
                "us-east-1");
        String endpoint = firstNonEmpty(env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"),
                configSection.get("s3.endpoint_url"), configSection.get("endpoint_url"),
                "https://s3." + region + ".amazonaws.com");
        S3Config.Builder b = S3Config.builder().credentials(credentials).region(region).endpoint(URI.create(endpoint));
        String style = configSection.get("s3.addressing_style");
        if (style != null) {
            b.addressing(switch (style) {
                case "path" -> S3Config.Addressing.PATH;
                case "virtual" -> S3Config.Addressing.VIRTUAL_HOSTED;
                default -> S3Config.Addressing.AUTO;
            });
        }
        return b;
    }

    private static AwsCredentials fromSection(Map<String, String> s, String where) throws IOException {
        String secret = s.get("aws_secret_access_key");
        if (secret == null || secret.isEmpty()) {
            throw new IOException(where + " has aws_access_key_id but no aws_secret_access_key");
        }
        return new AwsCredentials(s.get("aws_access_key_id"), secret, s.get("aws_session_token"));
    }

    /**
     * Reads an AWS INI file: {@code [section]} headers, {@code key = value} lines, '#' and ';'
     * comments; an indented {@code key = value} under a key with an empty value becomes
     * {@code parent.key}. A missing file is empty.
     */
    static Map<String, Map<String, String>> ini(Path file) throws IOException {
        Map<String, Map<String, String>> out = new HashMap<>();
        if (!Files.isRegularFile(file)) {
            return out;
        }
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        Map<String, String> section = null;
        String parent = null;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
                continue;
            }
            if (line.startsWith("[") && line.endsWith("]")) {
                section = out.computeIfAbsent(line.substring(1, line.length() - 1).strip().replaceAll("\\s+", " "),
                        k -> new LinkedHashMap<>());
                parent = null;
                continue;
            }
            int eq = line.indexOf('=');
            if (section == null || eq < 0) {
                continue;
            }
            String key = line.substring(0, eq).strip().toLowerCase(java.util.Locale.ROOT);
            String value = line.substring(eq + 1).strip();
            boolean indented = Character.isWhitespace(raw.charAt(0));
            if (indented && parent != null) {
                section.put(parent + "." + key, value);
            } else {
                parent = value.isEmpty() ? key : null;
                section.put(key, value);
            }
        }
        return out;
    }

    private static boolean has(Map<String, String> env, String name) {
        String v = env.get(name);
        return v != null && !v.isEmpty();
    }

    private static String nonEmpty(String v, String dflt) {
        return v == null || v.isEmpty() ? dflt : v;
    }

    private static String firstNonEmpty(String... values) {
        for (String v : values) {
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return null;
    }
}

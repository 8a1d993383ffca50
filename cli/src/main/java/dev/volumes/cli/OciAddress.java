package dev.volumes.cli;

import dev.volumes.oci.ImageRef;
import dev.volumes.oci.RegistryClient;
import java.io.IOException;
import java.net.URI;

/**
 * An image or repository in a registry as the CLI takes it: {@code [oci://]HOST[:PORT]/REPO[:TAG|@DIGEST]}.
 * The registry is reached over HTTPS, except a loopback host ({@code localhost}, {@code 127.*},
 * {@code [::1]}), which is plain HTTP like docker's default for local registries, and any host
 * when {@code VOLUMES_REGISTRY_PLAIN_HTTP=1}. Credentials come from {@code $HOME/.docker/config.json}.
 *
 * @param registry {@code host[:port]}
 * @param repository repository path
 * @param reference tag or digest, or null when only a repository was given
 */
record OciAddress(String registry, String repository, String reference) {

    /**
     * Parses {@code text}.
     *
     * @throws IllegalArgumentException (exit 2) with what was expected
     */
    static OciAddress parse(String text) {
        String rest = text.startsWith("oci://") ? text.substring("oci://".length()) : text;
        int slash = rest.indexOf('/');
        if (slash <= 0 || slash == rest.length() - 1) {
            throw new IllegalArgumentException("bad image '" + text + "': expected [oci://]HOST[:PORT]/REPOSITORY[:TAG]");
        }
        String registry = rest.substring(0, slash);
        String path = rest.substring(slash + 1);
        String repository = path;
        String reference = null;
        int at = path.indexOf('@');
        int colon = path.lastIndexOf(':');
        if (at > 0) {
            repository = path.substring(0, at);
            reference = path.substring(at + 1);
        } else if (colon > 0 && path.indexOf('/', colon) < 0) {
            repository = path.substring(0, colon);
            reference = path.substring(colon + 1);
        }
        if (reference != null) {
            new ImageRef(repository, reference); // validates both
        } else {
            new ImageRef(repository, "latest"); // validates the repository
        }
        return new OciAddress(registry, repository, reference);
    }

    /** The image reference; a missing tag is an error naming {@code what}. */
    ImageRef ref() {
        if (reference == null) {
            throw new IllegalArgumentException("image " + this + " needs a tag or digest (REPOSITORY:TAG)");
        }
        return new ImageRef(repository, reference);
    }

    boolean loopback() {
        String host = registry.startsWith("[") ? registry.substring(0, registry.indexOf(']') + 1)
                : registry.contains(":") ? registry.substring(0, registry.indexOf(':')) : registry;
        return host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]");
    }

    URI base() {
        boolean plain = loopback() || "1".equals(System.getenv("VOLUMES_REGISTRY_PLAIN_HTTP"));
        return URI.create((plain ? "http" : "https") + "://" + registry + "/");
    }

    /**
     * A registry client for this registry, with credentials from {@code $HOME/.docker/config.json}
     * if it has any for the host (like the docker CLI, {@code $HOME} wins over the account's home).
     */
    RegistryClient client() throws IOException {
        var builder = RegistryClient.builder(base()).insecure(!loopback() && base().getScheme().equals("http"));
        String home = System.getenv("HOME");
        if (home != null && !home.isBlank()) {
            builder.home(java.nio.file.Path.of(home));
        }
        return builder.build();
    }

    /** The same registry and repository at {@code ref}'s reference. */
    OciAddress at(ImageRef ref) {
        return new OciAddress(registry, ref.repository(), ref.reference());
    }

    @Override
    public String toString() {
        return "oci://" + registry + "/" + repository + (reference == null ? ""
                : (reference.startsWith("sha256:") ? "@" : ":") + reference);
    }
}

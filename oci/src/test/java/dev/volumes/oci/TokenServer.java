package dev.volumes.oci;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A minimal Docker token server for tests: checks Basic credentials, then issues an RS256 JWT
 * (with an {@code x5c} header carrying a self-signed certificate the registry trusts through
 * {@code rootcertbundle}) granting exactly the scopes asked for. The key pair and certificate are
 * made with the JDK's keytool.
 */
final class TokenServer implements AutoCloseable {

    static final String SERVICE = "volumes-test-registry";
    static final String ISSUER = "volumes-test-issuer";

    private final HttpServer server;
    private final Path certificate;
    private final PrivateKey key;
    private final byte[] certDer;
    private final String user;
    private final String password;
    private final long expiresIn;
    private final AtomicInteger issued = new AtomicInteger();
    private final ObjectMapper json = new ObjectMapper();

    TokenServer(Path dir, String user, String password, long expiresIn) throws IOException {
        this.user = user;
        this.password = password;
        this.expiresIn = expiresIn;
        Files.createDirectories(dir);
        Path store = dir.resolve("token.p12");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        run(keytool, "-genkeypair", "-alias", "token", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=volumes-test-token",
                "-validity", "3", "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", "changeit",
                "-keypass", "changeit");
        certificate = dir.resolve("token-cert.pem");
        run(keytool, "-exportcert", "-rfc", "-alias", "token", "-keystore", store.toString(), "-storepass", "changeit",
                "-file", certificate.toString());
        try (InputStream in = Files.newInputStream(store)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, "changeit".toCharArray());
            key = (PrivateKey) ks.getKey("token", "changeit".toCharArray());
            Certificate cert = ks.getCertificate("token");
            certDer = cert.getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.createContext("/token", exchange -> {
            try (exchange) {
                String auth = exchange.getRequestHeaders().getFirst("Authorization");
                String expected = "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
                if (!expected.equals(auth)) {
                    exchange.sendResponseHeaders(401, -1);
                    return;
                }
                List<String> scopes = new ArrayList<>();
                String query = exchange.getRequestURI().getRawQuery();
                if (query != null) {
                    for (String kv : query.split("&")) {
                        if (kv.startsWith("scope=")) {
                            scopes.add(URLDecoder.decode(kv.substring(6), StandardCharsets.UTF_8));
                        }
                    }
                }
                byte[] body = json.writeValueAsBytes(json.createObjectNode().put("token", jwt(scopes))
                        .put("expires_in", expiresIn));
                exchange.getResponseHeaders().add("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
                issued.incrementAndGet();
            } catch (GeneralSecurityException e) {
                throw new IOException(e);
            }
        });
        server.start();
    }

    String realm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/token";
    }

    Path certificate() {
        return certificate;
    }

    int issued() {
        return issued.get();
    }

    private String jwt(List<String> scopes) throws GeneralSecurityException, IOException {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        ObjectNode header = json.createObjectNode().put("typ", "JWT").put("alg", "RS256");
        header.putArray("x5c").add(Base64.getEncoder().encodeToString(certDer));
        long now = System.currentTimeMillis() / 1000;
        ObjectNode claims = json.createObjectNode().put("iss", ISSUER).put("sub", user).put("aud", SERVICE)
                .put("exp", now + expiresIn).put("nbf", now - 10).put("iat", now).put("jti", "t" + issued.get() + "-" + now);
        ArrayNode access = claims.putArray("access");
        for (String scope : scopes) {
            String[] parts = scope.split(":");
            if (parts.length == 3) {
                ObjectNode a = access.addObject().put("type", parts[0]).put("name", parts[1]);
                ArrayNode actions = a.putArray("actions");
                for (String action : parts[2].split(",")) {
                    actions.add(action);
                }
            }
        }
        String signingInput = b64.encodeToString(json.writeValueAsBytes(header)) + "."
                + b64.encodeToString(json.writeValueAsBytes(claims));
        Signature sig = Signature.getInstance("SHA256withRSA");
        sig.initSign(key);
        sig.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "." + b64.encodeToString(sig.sign());
    }

    private static void run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(false).start();
        p.getInputStream().readAllBytes();
        TestRegistry.waitFor(p, command[0] + " " + command[1]);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}

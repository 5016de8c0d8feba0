package org.smtptlsproxy.interop;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.smtptlsproxy.auth.PasswordHashes;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The real proxy, in this JVM, configured through a YAML file as an administrator would write it.
 * Listeners on 127.0.0.1 port 0: {@code plain} (no TLS), {@code starttls}, {@code smtps}
 * (implicit TLS) and {@code auth} (STARTTLS, AUTH PLAIN/LOGIN required against a users_file).
 */
final class ProxyUnderTest implements AutoCloseable {

    static final String AUTH_USER = "scanner";
    static final String AUTH_PASSWORD = "copier-secret-42";

    private final ProxyServer server;
    private final Path directory;

    private ProxyUnderTest(ProxyServer server, Path directory) {
        this.server = server;
        this.directory = directory;
    }

    /**
     * @param upstreamYaml lines under {@code upstream:} (host, port, tls…), two-space indented by the caller
     */
    static ProxyUnderTest start(Path directory, TestPki.Identity identity, List<String> upstreamYaml) throws Exception {
        return start(directory, identity, upstreamYaml, null);
    }

    /**
     * The same, plus (when {@code spool} is not null) a STARTTLS listener "spool" with
     * {@code delivery: spool} keeping its messages in {@code spool}, retried every second.
     */
    static ProxyUnderTest start(Path directory, TestPki.Identity identity, List<String> upstreamYaml, Path spool)
            throws Exception {
        Files.createDirectories(directory);
        TestPki.PemFiles pem = identity.writePem(directory, "proxy", KeyFormat.PKCS8);
        // PBKDF2 with few iterations: the hash format the README documents, cheap for a test.
        Files.writeString(directory.resolve("users"), AUTH_USER + ":" + PasswordHashes.pbkdf2(AUTH_PASSWORD, 1000) + "\n");
        List<String> yaml = new ArrayList<>(List.of(
                "hostname: proxy.interop.test",
                "listeners:",
                "  - name: plain",
                "    address: 127.0.0.1:0"));
        yaml.addAll(tlsListener("starttls", "starttls", pem));
        yaml.addAll(tlsListener("smtps", "implicit", pem));
        yaml.addAll(tlsListener("auth", "starttls", pem));
        yaml.addAll(List.of(
                "    auth:",
                "      required: true",
                "      users_file: " + directory.resolve("users")));
        if (spool != null) {
            yaml.addAll(tlsListener("spool", "starttls", pem));
            yaml.addAll(List.of(
                    "    delivery: spool",
                    "spool:",
                    "  directory: " + spool,
                    "  retry:",
                    "    first: 1s",
                    "    max: 1s"));
        }
        yaml.add("upstream:");
        yaml.addAll(upstreamYaml);
        yaml.addAll(List.of(
                "  connect_timeout: 5s",
                "  command_timeout: 30s",
                "limits:",
                "  max_message_size: 35MB",
                "  idle_timeout: 60s",
                "metrics:",
                "  address: 127.0.0.1:0"));
        Path config = directory.resolve("config.yaml");
        Files.writeString(config, String.join("\n", yaml) + "\n", StandardCharsets.UTF_8);
        return new ProxyUnderTest(ProxyServer.start(new ConfigLoader().load(config)), directory);
    }

    private static List<String> tlsListener(String name, String mode, TestPki.PemFiles pem) {
        return List.of(
                "  - name: " + name,
                "    address: 127.0.0.1:0",
                "    tls:",
                "      mode: " + mode,
                "      certificate: " + pem.certificate(),
                "      key: " + pem.key());
    }

    int port(String listener) {
        InetSocketAddress address = server.listenerAddresses().get(listener);
        if (address == null) {
            throw new IllegalArgumentException("no listener " + listener + " in " + server.listenerAddresses());
        }
        return address.getPort();
    }

    Path directory() {
        return directory;
    }

    String metrics() {
        return server.registry().scrape();
    }

    @Override
    public void close() {
        server.close();
    }
}

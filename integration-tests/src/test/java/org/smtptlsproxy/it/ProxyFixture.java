package org.smtptlsproxy.it;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * A fake Exchange Online and the real proxy in front of it, configured through a real YAML file:
 * listeners "plain" (no TLS), "starttls" and "smtps" (implicit TLS), all on 127.0.0.1 port 0.
 */
final class ProxyFixture implements AutoCloseable {

    /** One CA per test JVM: key generation is the slow part. */
    static final TestPki PKI = TestPki.create("smtp-tls-proxy test CA", KeyType.RSA);
    static final TestPki.Identity LOCALHOST = PKI.issue("localhost", "localhost", "127.0.0.1");

    final Path directory;
    final FakeUpstream upstream;
    final ProxyServer proxy;

    private ProxyFixture(Path directory, FakeUpstream upstream, ProxyServer proxy) {
        this.directory = directory;
        this.upstream = upstream;
        this.proxy = proxy;
    }

    static Builder builder() {
        return new Builder();
    }

    InetSocketAddress address(String listener) {
        return proxy.listenerAddresses().get(listener);
    }

    /** A client connected to {@code listener}, banner read. */
    SmtpTestClient connect(String listener) throws IOException {
        SmtpTestClient client = new SmtpTestClient(java.time.Duration.ofSeconds(20));
        InetSocketAddress address = address(listener);
        client.connect(address.getHostString(), address.getPort());
        return client;
    }

    SmtpTestClient.TlsOptions trust(String... protocols) {
        return SmtpTestClient.TlsOptions.trusting(PKI.caCertificate(), protocols);
    }

    String metrics() {
        return proxy.registry().scrape();
    }

    @Override
    public void close() {
        proxy.close();
        if (upstream != null) {
            upstream.close();
        }
    }

    static final class Builder {
        private final List<Fault> faults = new ArrayList<>();
        private java.util.function.Consumer<FakeUpstream.Builder> upstreamCustomizer = b -> { };
        private String[] upstreamProtocols = {"TLSv1.2", "TLSv1.3"};
        private TestPki.Identity upstreamIdentity = LOCALHOST;
        private boolean upstreamImplicit;
        private String tlsProvider = "auto";
        private final List<String> extraYaml = new ArrayList<>();
        private final List<String> limitsYaml = new ArrayList<>();
        private final List<String> upstreamYaml = new ArrayList<>();
        private Integer upstreamPortOverride;
        private boolean startUpstream = true;
        private boolean primaryClosed;
        private final List<String> plainListenerYaml = new ArrayList<>();
        private final List<String> starttlsListenerYaml = new ArrayList<>();
        private final List<String> smtpsListenerYaml = new ArrayList<>();

        /** Lines added to the implicit-TLS "smtps" listener. */
        Builder smtpsListener(String line) {
            smtpsListenerYaml.add(line);
            return this;
        }

        /** Lines added to the "starttls" listener, e.g. "require_tls: true". */
        Builder starttlsListener(String line) {
            starttlsListenerYaml.add(line);
            return this;
        }
        private String[] requiredAuth;
        private String usersFile;
        private final Map<String, String> files = new LinkedHashMap<>();

        /** A file written next to the config before it is loaded, e.g. a secret's *_file. */
        Builder file(String name, String content) {
            files.put(name, content);
            return this;
        }

        /** Written as "users" next to the config, for an auth block's users_file. */
        Builder usersFile(String content) {
            usersFile = content;
            return this;
        }
        private String[] upstreamAuth;

        /** The fake upstream demands AUTH with these credentials. */
        Builder requireUpstreamAuth(String user, String password) {
            requiredAuth = new String[] {user, password, null};
            return this;
        }

        /** The fake upstream demands AUTH XOAUTH2 for {@code user} with this bearer token. */
        Builder requireUpstreamXoauth2(String user, String token) {
            requiredAuth = new String[] {user, null, token};
            return this;
        }

        /** The proxy authenticates upstream; the password goes through a password_file. */
        Builder upstreamAuth(String mechanism, String user, String password) {
            upstreamAuth = new String[] {mechanism, user, password};
            return this;
        }

        /** The configured host is a closed port; the fake upstream is the first fallback. */
        Builder primaryClosedFallbackWorks() {
            primaryClosed = true;
            return this;
        }

        /** Lines added to the "plain" listener, e.g. "require_tls: false". */
        Builder plainListener(String line) {
            plainListenerYaml.add(line);
            return this;
        }

        /** Further settings of the fake upstream (extensions it advertises or withholds...). */
        Builder customizeUpstream(java.util.function.Consumer<FakeUpstream.Builder> customizer) {
            this.upstreamCustomizer = customizer;
            return this;
        }

        Builder faults(Fault... f) {
            faults.addAll(List.of(f));
            return this;
        }

        Builder upstreamProtocols(String... protocols) {
            upstreamProtocols = protocols;
            return this;
        }

        Builder upstreamIdentity(TestPki.Identity identity) {
            upstreamIdentity = identity;
            return this;
        }

        Builder upstreamImplicitTls() {
            upstreamImplicit = true;
            return this;
        }

        Builder tlsProvider(String provider) {
            tlsProvider = provider;
            return this;
        }

        /** Lines added under {@code limits:}, e.g. "max_message_size: 1KB". */
        Builder limit(String line) {
            limitsYaml.add(line);
            return this;
        }

        /** Lines added under {@code upstream:}, e.g. "command_timeout: 1s". */
        Builder upstream(String line) {
            upstreamYaml.add(line);
            return this;
        }

        /** Top-level lines, e.g. "received_header: false". */
        Builder yaml(String line) {
            extraYaml.add(line);
            return this;
        }

        /** No upstream at all: the proxy points at a closed port. */
        Builder noUpstream(int closedPort) {
            startUpstream = false;
            upstreamPortOverride = closedPort;
            return this;
        }

        ProxyFixture start() throws Exception {
            Path dir = Files.createTempDirectory("proxy-it");
            FakeUpstream upstream = null;
            int upstreamPort;
            if (startUpstream) {
                FakeUpstream.Builder upstreamBuilder = FakeUpstream.builder();
                if (requiredAuth != null && requiredAuth[2] != null) {
                    upstreamBuilder.requireXoauth2(requiredAuth[0], requiredAuth[2]);
                } else if (requiredAuth != null) {
                    upstreamBuilder.requireAuth(requiredAuth[0], requiredAuth[1]);
                }
                upstreamCustomizer.accept(upstreamBuilder);
                upstream = upstreamBuilder
                        .identity(upstreamIdentity)
                        .protocols(upstreamProtocols)
                        .implicitTls(upstreamImplicit)
                        .faults(faults.toArray(Fault[]::new))
                        .maxStoredBytes(4 << 20)
                        .build()
                        .start();
                upstreamPort = upstream.port();
            } else {
                upstreamPort = upstreamPortOverride;
            }
            TestPki.PemFiles proxyPem = LOCALHOST.writePem(dir, "proxy", KeyFormat.PKCS8);
            for (Map.Entry<String, String> file : files.entrySet()) {
                Files.writeString(dir.resolve(file.getKey()), file.getValue());
            }
            if (usersFile != null) {
                Files.writeString(dir.resolve("users"), usersFile);
            }
            PKI.writeCaPem(dir.resolve("ca.pem"));
            int fallbackPort = 0;
            if (primaryClosed) {
                fallbackPort = upstreamPort;
                try (java.net.ServerSocket closed = new java.net.ServerSocket(0)) {
                    upstreamPort = closed.getLocalPort();
                }
            }
            List<String> yaml = new ArrayList<>(List.of(
                    "hostname: proxy.test.invalid",
                    "tls_provider: " + tlsProvider,
                    "listeners:",
                    "  - name: plain",
                    "    address: 127.0.0.1:0"));
            plainListenerYaml.forEach(line -> yaml.add("    " + line));
            yaml.addAll(List.of(
                    "  - name: starttls",
                    "    address: 127.0.0.1:0",
                    "    tls:",
                    "      mode: starttls",
                    "      certificate: " + proxyPem.certificate().getFileName(),
                    "      key: " + proxyPem.key().getFileName()));
            starttlsListenerYaml.forEach(line -> yaml.add("    " + line));
            yaml.addAll(List.of(
                    "  - name: smtps",
                    "    address: 127.0.0.1:0",
                    "    tls:",
                    "      mode: implicit",
                    "      certificate: " + proxyPem.certificate().getFileName(),
                    "      key: " + proxyPem.key().getFileName()));
            smtpsListenerYaml.forEach(line -> yaml.add("    " + line));
            yaml.addAll(List.of(
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstreamPort,
                    "  tls:",
                    "    mode: " + (upstreamImplicit ? "implicit" : "starttls"),
                    "    server_name: localhost",
                    "    trust: ca.pem"));
            upstreamYaml.forEach(line -> yaml.add("  " + line));
            if (primaryClosed) {
                yaml.add("  fallback_hosts: [\"127.0.0.1:" + fallbackPort + "\"]");
            }
            if (upstreamAuth != null) {
                Files.writeString(dir.resolve("upstream-password"), upstreamAuth[2] + "\n");
                yaml.addAll(List.of("  auth:", "    mechanism: " + upstreamAuth[0], "    username: " + upstreamAuth[1],
                        "    password_file: upstream-password"));
            }
            for (String defaults : List.of("connect_timeout: 5s", "command_timeout: 10s")) {
                if (upstreamYaml.stream().noneMatch(line -> line.startsWith(defaults.substring(0, defaults.indexOf(':'))))) {
                    yaml.add("  " + defaults);
                }
            }
            yaml.add("limits:");
            limitsYaml.forEach(line -> yaml.add("  " + line));
            if (limitsYaml.stream().noneMatch(line -> line.startsWith("idle_timeout"))) {
                yaml.add("  idle_timeout: 30s");
            }
            yaml.add("metrics:");
            yaml.add("  address: 127.0.0.1:0");
            yaml.addAll(extraYaml);
            Path config = dir.resolve("config.yaml");
            Files.writeString(config, String.join("\n", yaml) + "\n", StandardCharsets.UTF_8);
            try {
                ProxyServer proxy = ProxyServer.start(new ConfigLoader().load(config));
                return new ProxyFixture(dir, upstream, proxy);
            } catch (ConfigException | ProxyServer.StartupException e) {
                if (upstream != null) {
                    upstream.close();
                }
                throw e;
            }
        }
    }
}

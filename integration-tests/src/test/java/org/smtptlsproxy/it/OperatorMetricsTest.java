package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.server.ProxyVersion;
import org.smtptlsproxy.server.lifecycle.ConfigReloader;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The metrics an operator reaches for first (issue 17, item 9), read the way Prometheus reads
 * them: over HTTP from the running proxy, after real TLS sessions on real sockets.
 */
@Timeout(60)
class OperatorMetricsTest {

    private static final List<String> TLS13_SUITES = List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256");

    private final HttpClient http = HttpClient.newHttpClient();

    private String get(ProxyFixture fixture, String path) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + fixture.proxy.metricsPort() + path)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), path);
        return response.body();
    }

    @Test
    void buildInfoCipherLabelsCertificateExpiryAndOpenFilesAreScraped() throws Exception {
        TestPki.Identity upstreamIdentity = ProxyFixture.PKI.issue("localhost", "localhost", "127.0.0.1");
        TestPki.Identity clientIdentity = ProxyFixture.PKI.issue("proxy.test.invalid", "proxy.test.invalid");
        Path pem = Files.createTempDirectory("client-cert");
        TestPki.PemFiles clientPem = clientIdentity.writePem(pem, "client", KeyFormat.PKCS8);
        try (ProxyFixture fixture = ProxyFixture.builder()
                .upstreamIdentity(upstreamIdentity)
                .file("client.pem", Files.readString(clientPem.certificate()))
                .file("client.key", Files.readString(clientPem.key()))
                .upstream("  client_certificate: client.pem") // under upstream.tls, the block before
                .upstream("  client_key: client.key")
                .start()) {
            String before = get(fixture, "/metrics");
            assertEquals(1.0, value(before, "smtp_proxy_build_info{netty=\"" + ProxyVersion.nettyVersion()
                    + "\",tls_provider=\"BoringSSL\",version=\"" + ProxyVersion.version() + "\"}"), before);
            assertFalse(ProxyVersion.version().equals("unknown"), "the version comes from the build");
            for (String listener : List.of("starttls", "smtps")) {
                assertEquals(notAfter(ProxyFixture.LOCALHOST.certificate()),
                        value(before, expirySeries("listener", listener)), listener);
            }
            assertFalse(before.contains("listener=\"plain\"}") && before.contains("certificate=\"listener\",listener=\"plain\""),
                    "no certificate, no expiry series");
            assertEquals(notAfter(clientIdentity.certificate()), value(before, expirySeries("upstream_client", null)));
            assertFalse(before.contains("certificate=\"upstream\""), "no upstream met yet: " + before);
            assertTrue(value(before, "process_files_open_files") > 0, "file descriptors");
            assertTrue(value(before, "process_files_max_files") > 0, "file descriptor limit");
            HttpResponse<String> openMetrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + fixture.proxy.metricsPort() + "/metrics")).header("Accept", "application/openmetrics-text; version=1.0.0")
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(openMetrics.body().contains("smtp_proxy_build_info{"), openMetrics.body());

            String clientCipher;
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("printer.example");
                client.startTls(fixture.trust("TLSv1"));
                client.ehlo("printer.example");
                assertEquals("TLSv1", client.tlsProtocol());
                clientCipher = client.tlsCipher();
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
                client.quit();
            }

            String after = get(fixture, "/metrics");
            assertEquals(1.0, value(after, "smtp_proxy_tls_handshake_cipher_seconds_count{cipher=\"" + clientCipher
                    + "\",protocol=\"TLSv1\",side=\"inbound\"}"), after);
            // The contract's series are unchanged by the cipher timer.
            assertEquals(1.0, value(after, "smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1\",side=\"inbound\"}"));
            assertEquals(1.0, value(after, "smtp_proxy_tls_handshake_seconds_count{side=\"inbound\"}"));
            Matcher outbound = Pattern.compile("^smtp_proxy_tls_handshake_cipher_seconds_count\\{cipher=\"([A-Z0-9_]+)\","
                    + "protocol=\"TLSv1\\.3\",side=\"outbound\"} 1(\\.0)?$", Pattern.MULTILINE).matcher(after);
            assertTrue(outbound.find(), after);
            assertTrue(TLS13_SUITES.contains(outbound.group(1)), outbound.group(1));
            assertEquals(notAfter(upstreamIdentity.certificate()), value(after, expirySeries("upstream", null)),
                    "the upstream's leaf after a relay");
        }
    }

    @Test
    void reloadsAreCountedAndBuildInfoFollowsTheTlsProvider() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            String started = get(fixture, "/metrics");
            assertEquals(0.0, value(started, "smtp_proxy_config_reloads_total{outcome=\"success\"}"));
            assertEquals(0.0, value(started, "smtp_proxy_config_reloads_total{outcome=\"failure\"}"));
            double startedAt = value(started, "smtp_proxy_config_last_reload_success_timestamp_seconds");
            assertTrue(Math.abs(startedAt - System.currentTimeMillis() / 1000.0) < 60, "start-up is the first load: " + startedAt);

            Path config = fixture.directory.resolve("config.yaml");
            String good = Files.readString(config);
            Thread.sleep(20);
            Files.writeString(config, good.replace("tls_provider: auto", "tls_provider: jdk"));
            assertTrue(new ConfigReloader(config, fixture.proxy).reload());
            String reloaded = get(fixture, "/metrics");
            assertEquals(1.0, value(reloaded, "smtp_proxy_config_reloads_total{outcome=\"success\"}"));
            double reloadedAt = value(reloaded, "smtp_proxy_config_last_reload_success_timestamp_seconds");
            assertTrue(reloadedAt > startedAt, reloadedAt + " after " + startedAt);
            assertTrue(reloaded.contains("tls_provider=\"JDK\""), reloaded);
            assertEquals(1, reloaded.lines().filter(l -> l.startsWith("smtp_proxy_build_info{")).count(),
                    "one build_info series after the provider switch: " + reloaded);

            try (SmtpTestClient client = fixture.connect("starttls")) { // the JDK's suite names are labels too
                client.ehlo("printer.example");
                client.startTls(fixture.trust("TLSv1.2"));
                client.ehlo("printer.example");
                client.quit();
                assertEquals(1.0, value(get(fixture, "/metrics"), "smtp_proxy_tls_handshake_cipher_seconds_count{cipher=\""
                        + client.tlsCipher() + "\",protocol=\"TLSv1.2\",side=\"inbound\"}"));
            }

            Files.writeString(config, good.replace("certificate: proxy.pem", "certificate: missing.pem"));
            assertFalse(new ConfigReloader(config, fixture.proxy).reload());
            String refused = get(fixture, "/metrics");
            assertEquals(1.0, value(refused, "smtp_proxy_config_reloads_total{outcome=\"failure\"}"));
            assertEquals(1.0, value(refused, "smtp_proxy_config_reloads_total{outcome=\"success\"}"));
            assertEquals(reloadedAt, value(refused, "smtp_proxy_config_last_reload_success_timestamp_seconds"),
                    "a refused reload leaves the time of the last success");
        }
    }

    @Test
    void aRenewedListenerCertificateMovesItsExpiryOnReload() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            Thread.sleep(1100); // notAfter has whole seconds: make the renewed one differ
            TestPki.Identity later = ProxyFixture.PKI.issue("localhost", "localhost", "127.0.0.1");
            later.writePem(fixture.directory, "proxy", KeyFormat.PKCS8);
            assertTrue(new ConfigReloader(fixture.directory.resolve("config.yaml"), fixture.proxy).reload());
            String metrics = get(fixture, "/metrics");
            assertEquals(notAfter(later.certificate()), value(metrics, expirySeries("listener", "starttls")), metrics);
            assertTrue(notAfter(later.certificate()) > notAfter(ProxyFixture.LOCALHOST.certificate()));
        }
    }

    @Test
    void clientsKeepEveryProtocolASenderUsedWithFirstAndLastTime() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            try (SmtpTestClient legacy = fixture.connect("starttls")) {
                legacy.ehlo("printer.example");
                legacy.startTls(fixture.trust("TLSv1"));
                legacy.ehlo("printer.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(legacy), 0);
                legacy.quit();
            }
            awaitSessions(fixture, 1);
            Thread.sleep(20);
            try (SmtpTestClient plaintext = fixture.connect("starttls")) {
                plaintext.ehlo("printer.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(plaintext), 1);
                plaintext.quit();
            }
            awaitSessions(fixture, 2);
            String clients = get(fixture, "/clients");
            // The last session's fields as before...
            assertTrue(clients.contains("\"tls_protocol\":\"none\""), clients);
            assertTrue(clients.contains("\"sessions\":2"), clients);
            assertTrue(clients.contains("\"relayed\":2"), clients);
            // ...and every protocol seen, TLS 1.0 first.
            Matcher seen = Pattern.compile("\"tls_protocols_seen\":\\{\"TLSv1\":\\{\"first_seen\":\"([^\"]+)\",\"last_seen\":\"([^\"]+)\"},"
                    + "\"none\":\\{\"first_seen\":\"([^\"]+)\",\"last_seen\":\"([^\"]+)\"}}").matcher(clients);
            assertTrue(seen.find(), clients);
            java.time.Instant tlsFirst = java.time.Instant.parse(seen.group(1));
            java.time.Instant tlsLast = java.time.Instant.parse(seen.group(2));
            java.time.Instant plainFirst = java.time.Instant.parse(seen.group(3));
            assertFalse(tlsLast.isBefore(tlsFirst));
            assertTrue(plainFirst.isAfter(tlsLast), "plaintext came after TLS 1.0: " + clients);
        }
    }

    /** A session is recorded when it ends, which the server sees a moment after the client's QUIT. */
    private static void awaitSessions(ProxyFixture fixture, long sessions) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (System.nanoTime() < deadline) {
            var snapshot = fixture.proxy.runtime().clients().snapshot();
            if (!snapshot.isEmpty() && snapshot.get(0).sessions() >= sessions) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + sessions + " session(s) recorded: " + fixture.proxy.runtime().clients().toJson());
    }

    private static String expirySeries(String certificate, String listener) {
        return "smtp_proxy_certificate_expiry_timestamp_seconds{certificate=\"" + certificate + "\""
                + ",listener=\"" + (listener == null ? "" : listener) + "\"}"; // "": no label, to Prometheus
    }

    private static double notAfter(X509Certificate certificate) {
        return certificate.getNotAfter().getTime() / 1000.0;
    }

    private static double value(String metrics, String series) {
        return metrics.lines().filter(l -> l.startsWith(series + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(series.length() + 1)))
                .findFirst().orElseThrow(() -> new AssertionError(series + " missing in\n" + metrics));
    }
}

package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ConfigReloader;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/** SIGHUP's work, in process: a new config for new connections, sessions in flight untouched. */
@Timeout(60)
class ReloadTest {

    private static final byte[] MESSAGE = "Subject: reload\r\n\r\nhello\r\n".getBytes(StandardCharsets.US_ASCII);

    @Test
    void aRenewedCertificateIsServedToNewConnectionsWhileASessionInFlightGoesOn() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            try (SmtpTestClient before = fixture.connect("starttls")) {
                before.ehlo("printer.example");
                before.startTls(fixture.trust("TLSv1.2"));
                before.ehlo("printer.example");
                X509Before old = new X509Before(before.serverCertificate().getSerialNumber().toString());

                TestPki.Identity renewed = ProxyFixture.PKI.issue("localhost", "localhost", "127.0.0.1");
                renewed.writePem(fixture.directory, "proxy", KeyFormat.PKCS1); // the files the config names
                assertTrue(new ConfigReloader(fixture.directory.resolve("config.yaml"), fixture.proxy).reload());

                try (SmtpTestClient after = fixture.connect("starttls")) {
                    after.ehlo("printer.example");
                    after.startTls(fixture.trust("TLSv1.2"));
                    assertEquals(renewed.certificate().getSerialNumber(), after.serverCertificate().getSerialNumber());
                    assertNotEquals(old.serial(), renewed.certificate().getSerialNumber().toString());
                }
                SmtpTestClient.Reply reply = before.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE);
                assertEquals(250, reply.code(), "the session from before the reload relays: " + reply);
            }
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(10)));
        }
    }

    private record X509Before(String serial) {
    }

    @Test
    void aBrokenConfigIsRefusedAndTheRunningOneStays() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            Path config = fixture.directory.resolve("config.yaml");
            String good = Files.readString(config);
            Files.writeString(config, good.replace("certificate: proxy.pem", "certificate: missing.pem"));
            assertFalse(new ConfigReloader(config, fixture.proxy).reload());
            relayOne(fixture, "plain");
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("printer.example");
                client.startTls(fixture.trust("TLSv1.2"));
                assertEquals(ProxyFixture.LOCALHOST.certificate().getSerialNumber(), client.serverCertificate().getSerialNumber());
            }
        }
    }

    @Test
    void aNewUpstreamTakesTheNextTransactionAndPooledSessionsToTheOldOneAreClosed() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             FakeUpstream next = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).build().start()) {
            relayOne(fixture, "plain"); // leaves a pooled session to the first upstream
            assertEquals(1, fixture.upstream.messages().size());
            Path config = fixture.directory.resolve("config.yaml");
            Files.writeString(config, Files.readString(config)
                    .replace("port: " + fixture.upstream.port(), "port: " + next.port()));
            assertTrue(new ConfigReloader(config, fixture.proxy).reload());
            relayOne(fixture, "plain");
            assertTrue(next.awaitMessages(1, Duration.ofSeconds(10)));
            assertEquals(1, fixture.upstream.messages().size(), "nothing more went to the old upstream");
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (!fixture.upstream.commandsSeen().contains("[tls] QUIT") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(fixture.upstream.commandsSeen().contains("[tls] QUIT"), "the pooled session was closed politely: "
                    + fixture.upstream.commandsSeen());
        }
    }

    @Test
    void aMovedListenerNeedsARestartAndKeepsServingItsAddress() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            InetSocketAddress plain = fixture.address("plain");
            int elsewhere;
            try (ServerSocket free = new ServerSocket(0)) {
                elsewhere = free.getLocalPort();
            }
            Path config = fixture.directory.resolve("config.yaml");
            String moved = Files.readString(config).replaceFirst("address: 127\\.0\\.0\\.1:0", "address: 127.0.0.1:" + elsewhere);
            Path movedConfig = fixture.directory.resolve("moved.yaml");
            Files.writeString(movedConfig, moved);
            List<String> needRestart = fixture.proxy.reload(new ConfigLoader().load(movedConfig));
            assertEquals(1, needRestart.size(), needRestart.toString());
            assertTrue(needRestart.get(0).contains("listener plain moves from 127.0.0.1:0 to 127.0.0.1:" + elsewhere), needRestart.get(0));
            assertEquals(plain, fixture.address("plain"));
            relayOne(fixture, "plain");
        }
    }

    @Test
    void theTlsProviderCanChangeOnReload() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            assertTrue(fixture.proxy.runtime().tlsProviderName().startsWith("BoringSSL"), fixture.proxy.runtime().tlsProviderName());
            Path config = fixture.directory.resolve("config.yaml");
            Files.writeString(config, Files.readString(config).replace("tls_provider: auto", "tls_provider: jdk"));
            assertTrue(new ConfigReloader(config, fixture.proxy).reload());
            assertTrue(fixture.proxy.runtime().tlsProviderName().startsWith("JDK"), fixture.proxy.runtime().tlsProviderName());
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("printer.example");
                client.startTls(fixture.trust("TLSv1"));
                client.ehlo("printer.example");
                assertEquals("TLSv1", client.tlsProtocol());
                assertEquals(250, client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE).code());
            }
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(10)));
        }
    }

    @Test
    void aRemovedListenerKeepsServingWithTheNewUpstream() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             FakeUpstream next = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).build().start()) {
            Path config = fixture.directory.resolve("config.yaml");
            String yaml = Files.readString(config);
            String withoutSmtps = yaml.substring(0, yaml.indexOf("  - name: smtps")) + yaml.substring(yaml.indexOf("upstream:"));
            Path edited = fixture.directory.resolve("without-smtps.yaml");
            Files.writeString(edited, withoutSmtps.replace("port: " + fixture.upstream.port(), "port: " + next.port()));
            List<String> needRestart = fixture.proxy.reload(new ConfigLoader().load(edited));
            assertEquals(List.of("listener smtps was removed: it keeps serving until a restart"), needRestart);
            InetSocketAddress smtps = fixture.address("smtps");
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                client.connectImplicitTls(smtps.getHostString(), smtps.getPort(), fixture.trust("TLSv1.2"));
                client.ehlo("printer.example");
                assertEquals(250, client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE).code());
            }
            assertTrue(next.awaitMessages(1, Duration.ofSeconds(10)));
        }
    }

    @Test
    void sighupReloadsTheRealProcessInsteadOfEndingIt() throws Exception {
        Path jar = Path.of("..", "proxy-server", "target", "smtp-tls-proxy.jar").toAbsolutePath().normalize();
        assertTrue(Files.exists(jar), "build proxy-server first: " + jar);
        Path dir = Files.createTempDirectory("sighup");
        try (FakeUpstream upstream = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).build().start()) {
            ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
            int port;
            try (ServerSocket free = new ServerSocket(0)) {
                port = free.getLocalPort();
            }
            Path config = dir.resolve("config.yaml");
            Files.writeString(config, String.join("\n",
                    "hostname: proxy.test.invalid",
                    "listeners:",
                    "  - name: plain",
                    "    address: 127.0.0.1:" + port,
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstream.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: ca.pem",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    ""));
            Path log = dir.resolve("proxy.log");
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process proxy = new ProcessBuilder(java, "-jar", jar.toString(), "run", "--config", config.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                awaitLog(log, "running;", proxy);
                Files.writeString(config, Files.readString(config).replace("hostname: proxy.test.invalid",
                        "hostname: renamed.test.invalid"));
                assertEquals(0, new ProcessBuilder("kill", "-HUP", Long.toString(proxy.pid())).start().waitFor());
                awaitLog(log, "reloaded " + config, proxy);
                assertTrue(proxy.isAlive(), Files.readString(log));
                try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                    SmtpTestClient.Reply banner = client.connect("127.0.0.1", port);
                    assertTrue(banner.text().contains("renamed.test.invalid"), "new connections get the new hostname: " + banner);
                    client.ehlo("printer.example");
                    assertEquals(250, client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE).code());
                }
                proxy.destroy(); // SIGTERM still drains and exits 0
                assertTrue(proxy.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, proxy.exitValue(), Files.readString(log));
            } finally {
                proxy.destroyForcibly();
            }
        }
    }

    private static void awaitLog(Path log, String text, Process proxy) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            String content = Files.exists(log) ? Files.readString(log) : "";
            if (content.contains(text)) {
                return;
            }
            if (!proxy.isAlive()) {
                throw new AssertionError("proxy exited (" + proxy.exitValue() + "): " + content);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no '" + text + "' in the log: " + Files.readString(log));
    }

    private static void relayOne(ProxyFixture fixture, String listener) throws IOException {
        try (SmtpTestClient client = fixture.connect(listener)) {
            client.ehlo("printer.example");
            SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE);
            assertEquals(250, reply.code(), reply.toString());
            client.quit();
        }
    }
}

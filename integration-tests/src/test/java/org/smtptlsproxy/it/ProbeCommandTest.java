package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.server.Main;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.TestPki;

/** {@code probe} against real upstreams: what an administrator sees when a relay would work, and when not. */
@Timeout(60)
class ProbeCommandTest {

    private static Path trust;

    private record Run(int exit, String out, String err) {
    }

    @BeforeAll
    static void writeTrust() throws Exception {
        trust = ProxyFixture.PKI.writeCaPem(Files.createTempDirectory("probe").resolve("ca.pem"));
    }

    private static Run probe(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] command = new String[args.length + 1];
        command[0] = "probe";
        System.arraycopy(args, 0, command, 1, args.length);
        int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), command);
        return new Run(exit, out.toString(), err.toString());
    }

    private static FakeUpstream.Builder upstream(TestPki.Identity identity) {
        return FakeUpstream.builder().identity(identity);
    }

    @Test
    void aWorkingUpstreamIsReportedStepByStepWithItsChain() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).build().start()) {
            Run run = probe("127.0.0.1:" + upstream.port(), "--trust", trust.toString());
            String out = run.out();
            assertEquals(0, run.exit(), out + run.err());
            assertTrue(out.contains("connected to 127.0.0.1 port " + upstream.port()), out);
            assertTrue(out.contains("banner: 220 "), out);
            assertTrue(out.contains("EHLO: ") && out.contains("STARTTLS"), out);
            assertTrue(out.matches("(?s).*TLS: TLSv1\\.[23], TLS_\\w+, verified for 127\\.0\\.0\\.1.*"), out);
            assertTrue(out.contains("subject: CN=localhost"), out);
            assertTrue(out.contains("names: localhost, 127.0.0.1"), out);
            assertTrue(out.contains("issuer: CN=smtp-tls-proxy test CA"), out);
            assertTrue(out.contains("key: RSA 2048"), out);
            assertTrue(out.contains("EHLO in TLS: "), out);
            assertTrue(out.contains("OK: a relay through 127.0.0.1:" + upstream.port() + " would work"), out);
            assertTrue(out.indexOf("banner:") < out.indexOf("TLS: ") && out.indexOf("TLS: ") < out.indexOf("EHLO in TLS"), out);
        }
    }

    @Test
    void anUntrustedChainIsShownWithWhyItFailed() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).build().start()) {
            for (String provider : new String[] {"openssl", "jdk"}) {
                Run run = probe("127.0.0.1:" + upstream.port(), "--tls-provider", provider); // system CAs: our test CA is unknown
                String out = run.out();
                assertEquals(1, run.exit(), provider + ": " + out + run.err());
                assertTrue(out.contains("subject: CN=localhost"), provider + ": " + out);
                assertTrue(out.contains("verification: FAILED: "), provider + ": " + out);
                assertTrue(out.contains("FAILED (certificate_invalid): "), provider + ": " + out);
                assertFalse(out.contains("OK: "), provider + ": " + out);
            }
        }
    }

    @Test
    void aCertificateForAnotherNameFails() throws Exception {
        TestPki.Identity other = ProxyFixture.PKI.issue("other.example", "other.example");
        try (FakeUpstream upstream = upstream(other).build().start()) {
            Run run = probe("127.0.0.1:" + upstream.port(), "--trust", trust.toString(), "--server-name", "localhost");
            assertEquals(1, run.exit(), run.out());
            assertTrue(run.out().contains("names: other.example"), run.out());
            assertTrue(run.out().contains("FAILED (certificate_invalid): "), run.out());
        }
    }

    @Test
    void anUpstreamWithoutStartTlsFails() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).faults(Fault.NO_STARTTLS).build().start()) {
            Run run = probe("127.0.0.1:" + upstream.port(), "--trust", trust.toString());
            assertEquals(1, run.exit(), run.out());
            assertTrue(run.out().contains("FAILED (starttls_missing): "), run.out());
            assertTrue(run.out().contains("did not offer STARTTLS"), run.out());
        }
    }

    @Test
    void anUpstreamLimitedToTls10Fails() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).protocols("TLSv1").build().start()) {
            Run run = probe("127.0.0.1:" + upstream.port(), "--trust", trust.toString());
            assertEquals(1, run.exit(), run.out());
            assertTrue(run.out().contains("FAILED (tls_failed): "), run.out());
            assertTrue(run.out().contains("protocol_version alert (no TLS version in common)"), run.out());
        }
    }

    @Test
    void aClosedPortFails() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Run run = probe("127.0.0.1:" + port, "--timeout", "5");
        assertEquals(1, run.exit(), run.out());
        assertTrue(run.out().contains("FAILED (connect_failed): cannot connect to upstream 127.0.0.1:" + port + ": Connection refused"),
                run.out());
    }

    @Test
    void implicitTlsIsProbedFromTheFirstByte() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).implicitTls(true).build().start()) {
            Run run = probe("127.0.0.1:" + upstream.port(), "--implicit-tls", "--trust", trust.toString());
            String out = run.out();
            assertEquals(0, run.exit(), out + run.err());
            assertTrue(out.contains("implicit TLS"), out);
            assertTrue(out.contains("names: localhost, 127.0.0.1"), out);
            assertTrue(out.contains("OK: "), out);
        }
    }

    /** A relay config next to the CA bundle: upstream with AUTH PLAIN, a password file. */
    private static Path relayConfig(FakeUpstream upstream, String password) throws Exception {
        Path dir = Files.createTempDirectory("probe-config");
        ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
        Files.writeString(dir.resolve("upstream-password"), password + "\n");
        Path config = dir.resolve("config.yaml");
        Files.writeString(config, String.join("\n",
                "hostname: relay.test.invalid",
                "listeners:",
                "  - name: lan",
                "    address: 127.0.0.1:0",
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + upstream.port(),
                "  tls:",
                "    server_name: localhost",
                "    trust: ca.pem",
                "  auth:",
                "    mechanism: plain",
                "    username: relay",
                "    password_file: upstream-password",
                ""));
        return config;
    }

    @Test
    void withTheRelaysConfigTheProbeAuthenticatesAsTheRelayWould() throws Exception {
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).requireAuth("relay", "right").build().start()) {
            Run good = probe("--config", relayConfig(upstream, "right").toString());
            assertEquals(0, good.exit(), good.out() + good.err());
            assertTrue(good.out().contains("AUTH PLAIN as relay"), good.out());
            assertTrue(good.out().contains("TLS: ") && good.out().contains("verified for localhost"), good.out());
            assertTrue(good.out().contains("AUTH PLAIN: accepted (235"), good.out());
            assertTrue(upstream.commandsSeen().contains("[tls] EHLO relay.test.invalid"), "the config's hostname in EHLO: "
                    + upstream.commandsSeen());
            Run bad = probe("--config", relayConfig(upstream, "wrong").toString());
            assertEquals(1, bad.exit(), bad.out());
            assertTrue(bad.out().contains("FAILED (auth_failed): "), bad.out());
            assertFalse(bad.out().contains("wrong"), "the password stays out of the output: " + bad.out());
        }
    }

    @Test
    void smtpAuthDisabledForTheTenantIsExplainedWithWhatToChange() throws Exception {
        String disabled = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
                + "Visit https://aka.ms/smtp_auth_disabled for more information.";
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).requireAuth("relay", "right")
                .reply("AUTH", disabled).build().start()) {
            Run run = probe("--config", relayConfig(upstream, "right").toString());
            assertEquals(1, run.exit(), run.out() + run.err());
            assertTrue(run.out().contains("FAILED (auth_failed): ") && run.out().contains(disabled), run.out());
            assertTrue(run.out().contains("what it means (smtp_auth_disabled): SMTP AUTH was refused"), run.out());
            assertTrue(run.out().contains("what to change: Enable SMTP AUTH for the mailbox (Set-CASMailbox"), run.out());
        }
    }

    @Test
    void theClientCertificatesNamesForACertificateConnectorArePrinted() throws Exception {
        TestPki.Identity relay = ProxyFixture.PKI.issue("relay.contoso.example", "relay.contoso.example", "contoso.example");
        try (FakeUpstream upstream = upstream(ProxyFixture.LOCALHOST).build().start()) {
            Path config = relayConfig(upstream, "unused");
            relay.writePem(config.getParent(), "client", org.smtptlsproxy.testkit.KeyFormat.PKCS8);
            String yaml = Files.readString(config).replace("    trust: ca.pem\n",
                    "    trust: ca.pem\n    client_certificate: client.pem\n    client_key: client.key\n")
                    .replace("    mechanism: plain", "    mechanism: none")
                    .replace("    username: relay\n    password_file: upstream-password\n", "");
            Files.writeString(config, yaml);
            Run run = probe("--config", config.toString());
            assertEquals(0, run.exit(), run.out() + run.err());
            assertTrue(run.out().contains("client certificate: CN=relay.contoso.example"), run.out());
            assertTrue(run.out().contains("Exchange Online matches a certificate-based connector (TlsSenderCertificateName) "
                    + "against: relay.contoso.example, contoso.example"), run.out());
        }
    }

    @Test
    void aReplyFromTheSendersQueueIsExplainedWithoutConnecting() {
        Run run = probe("--explain", "550 5.7.64 TenantAttribution; Relay Access Denied");
        assertEquals(0, run.exit(), run.out() + run.err());
        assertTrue(run.out().contains("reason: connector_not_matched"), run.out());
        assertTrue(run.out().contains("the inbound connector in the Exchange admin center does not match this relay's IP "
                + "or certificate"), run.out());
        Run throttled = probe("--explain", "451 4.7.500 Server busy. Please try again later");
        assertTrue(throttled.out().contains("reason: throttled"), throttled.out());
        Run unknown = probe("--explain", "554 5.6.0 Message rejected");
        assertTrue(unknown.out().contains("reason: other") && unknown.out().contains("permanent"), unknown.out());
        assertEquals(2, probe("--explain", "no code here").exit());
    }

    @Test
    void aBrokenConfigIsListedLikeCheckDoes() throws Exception {
        Path config = Files.createTempDirectory("probe-bad").resolve("config.yaml");
        Files.writeString(config, "listeners: []\nupstream:\n  host: 127.0.0.1\n  tls:\n    min_protocol: TLSv1\n");
        Run run = probe("--config", config.toString());
        assertEquals(1, run.exit());
        assertTrue(run.err().contains("upstream.tls.min_protocol (line 5): TLSv1 is below the TLSv1.2 minimum"), run.err());
    }

    @Test
    void usageMistakesExitWithTwoAndNoStackTrace() {
        Run badPort = probe("mail.example.com:99999");
        assertEquals(2, badPort.exit());
        assertTrue(badPort.err().contains("out of range"), badPort.err());
        Run missingTrust = probe("mail.example.com", "--trust", "/nonexistent/ca.pem");
        assertEquals(2, missingTrust.exit());
        assertTrue(missingTrust.err().contains("--trust /nonexistent/ca.pem"), missingTrust.err());
        Run badProvider = probe("mail.example.com", "--tls-provider", "gnutls");
        assertEquals(2, badProvider.exit());
        assertEquals(2, probe().exit());
        for (Run run : new Run[] {badPort, missingTrust, badProvider}) {
            assertFalse(run.err().contains("Exception"), run.err());
        }
    }
}

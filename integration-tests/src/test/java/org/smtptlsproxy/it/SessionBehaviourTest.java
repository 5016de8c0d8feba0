package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** The SMTP conversation a client can count on, and the upstream options that shape it. */
@Timeout(60)
class SessionBehaviourTest {

    @Test
    void commandsAndSequenceErrorsGetTheirReplies() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("max_recipients: 2").start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertEquals("503 5.5.1 Send HELO/EHLO first", client.command("MAIL FROM:<a@b.example>").toString());
            assertEquals(501, client.command("EHLO").code());
            SmtpTestClient.Reply ehlo = client.ehlo("sender.example");
            assertTrue(ehlo.lines().containsAll(java.util.List.of("PIPELINING", "SIZE 36700160", "8BITMIME", "ENHANCEDSTATUSCODES")),
                    ehlo.toString());
            assertTrue(!ehlo.lines().contains("STARTTLS"), "no STARTTLS on a plaintext listener");
            assertEquals(252, client.command("VRFY postmaster").code());
            assertEquals(214, client.command("HELP").code());
            assertEquals(250, client.command("NOOP").code());
            assertEquals("500 5.5.1 Command unrecognized", client.command("XYZZY").toString());
            assertEquals("500 5.5.2 Line too long", client.command("NOOP " + "x".repeat(600)).toString());
            assertEquals("503 5.5.1 Need MAIL command", client.command("RCPT TO:<b@c.example>").toString());
            assertEquals("503 5.5.1 Need MAIL command", client.command("DATA").toString());
            assertEquals(502, client.command("STARTTLS").code());
            assertEquals(250, client.command("MAIL FROM:<a@b.example>").code());
            assertEquals("503 5.5.1 Nested MAIL command", client.command("MAIL FROM:<a@b.example>").toString());
            assertEquals(501, client.command("RCPT TO:<no brackets allowed here>").code());
            assertEquals("503 5.5.1 Need RCPT command", client.command("DATA").toString());
            assertEquals(250, client.command("RCPT TO:<one@contoso.example>").code());
            assertEquals(250, client.command("RCPT TO:<two@contoso.example>").code());
            assertEquals("452 4.5.3 Too many recipients", client.command("RCPT TO:<three@contoso.example>").toString());
            assertEquals(250, client.command("RSET").code());
            assertEquals("221 2.0.0 Bye", client.quit().toString());
        }
    }

    @Test
    void oversizeMessageIsRefusedAfterItsEndAndNothingIsRelayed() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("max_message_size: 1KB").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(552, client.command("MAIL FROM:<a@b.example> SIZE=5000").code());
            SmtpTestClient.Reply reply = client.sendMessage("a@b.example", java.util.List.of("c@contoso.example"),
                    ("Subject: big\r\n\r\n" + "y".repeat(3000) + "\r\n").getBytes());
            assertEquals("552 5.3.4 Message size exceeds fixed limit", reply.toString());
            assertTrue(fixture.upstream.messages().isEmpty());
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
        }
    }

    @Test
    void requireTlsRefusesMailBeforeStartTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().starttlsListener("require_tls: true").start();
             SmtpTestClient client = fixture.connect("starttls")) {
            client.ehlo("sender.example");
            assertEquals("530 5.7.0 Must issue a STARTTLS command first", client.command("MAIL FROM:<a@b.example>").toString());
            client.startTls(fixture.trust("TLSv1"));
            client.ehlo("sender.example");
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
        }
    }

    @Test
    void clientOutsideTheAllowListIsRefusedAtConnect() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().plainListener("allowed_clients: [10.0.0.0/8]").start();
             SmtpTestClient client = new SmtpTestClient()) {
            var address = fixture.address("plain");
            SmtpTestClient.Reply banner = client.connect(address.getHostString(), address.getPort());
            assertEquals("554 5.7.1 Access denied: client not allowed", banner.toString());
            assertTrue(client.isClosedByServer());
            assertTrue(fixture.metrics().contains(
                    "smtp_proxy_connections_rejected_total{listener=\"plain\",reason=\"not_allowed\"} 1.0"));
        }
    }

    @Test
    void idleClientIsDisconnected() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("idle_timeout: 1s").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            Thread.sleep(1500);
            assertEquals("421 4.4.2 Idle timeout, closing connection", client.readReply().toString());
        }
    }

    @Test
    void upstreamAuthPlainAndLogin() throws Exception {
        for (String mechanism : java.util.List.of("plain", "login")) {
            try (ProxyFixture fixture = ProxyFixture.builder().requireUpstreamAuth("relay@contoso.example", "pa55 word")
                    .upstreamAuth(mechanism, "relay@contoso.example", "pa55 word").start();
                 SmtpTestClient client = fixture.connect("plain")) {
                client.ehlo("sender.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
                assertTrue(fixture.upstream.plaintextCommands().stream().noneMatch(c -> c.startsWith("AUTH")),
                        "credentials only inside TLS");
            }
        }
    }

    @Test
    void upstreamAuthFailureIsATemporaryFailureThatQuotesTheUpstream() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().requireUpstreamAuth("relay@contoso.example", "right")
                .upstreamAuth("plain", "relay@contoso.example", "wrong").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            SmtpTestClient.Reply reply = client.command("MAIL FROM:<a@b.example>");
            assertEquals(451, reply.code());
            assertTrue(reply.text().startsWith("4.7.0") && reply.text().contains("535 5.7.3"), reply.toString());
            assertTrue(fixture.metrics().contains("smtp_proxy_upstream_sessions_total{outcome=\"auth_failed\"} 1.0"));
        }
    }

    @Test
    void fallbackHostServesWhenThePrimaryIsDown() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().primaryClosedFallbackWorks().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_upstream_sessions_total{outcome=\"connect_failed\"} 1.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_upstream_sessions_total{outcome=\"ok\"} 1.0"), metrics);
        }
    }

    @Test
    void clientThatDisconnectsMidMessageLeavesNothingDelivered() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            try (SmtpTestClient client = fixture.connect("plain")) {
                client.ehlo("sender.example");
                assertEquals(250, client.command("MAIL FROM:<a@b.example>").code());
                assertEquals(250, client.command("RCPT TO:<c@contoso.example>").code());
                assertEquals(354, client.command("DATA").code());
                client.writeRaw("Subject: half\r\n\r\nhalf a message");
            }
            assertTrue(!fixture.upstream.awaitMessages(1, Duration.ofSeconds(1)), "no end-of-data ever reached the upstream");
        }
    }
}

package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * Whatever goes wrong upstream, the sender gets the right reply class, nothing is delivered that
 * must not be, and nothing but EHLO/STARTTLS ever travels without TLS.
 */
@Timeout(90)
class UpstreamFailureTest {

    /** MAIL's reply when the upstream session cannot be set up. */
    private static SmtpTestClient.Reply mailReply(ProxyFixture fixture) throws Exception {
        try (SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            return client.command("MAIL FROM:<a@legacy.example>");
        }
    }

    private static void assertDeferredAtMail(ProxyFixture.Builder builder, String enhanced, String reasonPart,
                                             String outcome) throws Exception {
        try (ProxyFixture fixture = builder.start()) {
            SmtpTestClient.Reply reply = mailReply(fixture);
            assertEquals(451, reply.code(), reply.toString());
            assertTrue(reply.text().startsWith(enhanced), reply.toString());
            assertTrue(reply.text().contains(reasonPart), reply.toString());
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_upstream_sessions_total{outcome=\"" + outcome + "\"} 1.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"deferred\"} 1.0"), metrics);
            if (fixture.upstream != null) {
                assertTrue(fixture.upstream.messages().isEmpty());
                assertTrue(fixture.upstream.plaintextCommands().stream().allMatch(c -> c.startsWith("EHLO") || c.equals("STARTTLS") || c.equals("QUIT")),
                        fixture.upstream.plaintextCommands().toString());
            }
        }
    }

    @Test
    void upstreamWithoutStartTlsIsNeverUsedInPlaintext() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().faults(Fault.NO_STARTTLS), "4.7.5",
                "did not offer STARTTLS; not relaying without TLS", "starttls_missing");
    }

    /** Giving up on an upstream it has spoken to, the proxy says QUIT, as a well-behaved client does. */
    @Test
    void upstreamGivenUpOnIsToldQuit() throws Exception {
        for (Fault fault : List.of(Fault.NO_STARTTLS, Fault.EHLO_5XX)) {
            try (ProxyFixture fixture = ProxyFixture.builder().faults(fault).start()) {
                assertEquals(451, mailReply(fixture).code());
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (!fixture.upstream.commandsSeen().contains("QUIT") && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                List<String> seen = fixture.upstream.commandsSeen();
                assertEquals("QUIT", seen.get(seen.size() - 1), fault + ": " + seen);
            }
        }
    }

    @Test
    void upstreamLimitedToTls11IsRefused() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().upstreamProtocols("TLSv1.1"), "4.7.5", "handshake", "tls_failed");
    }

    @Test
    void certificateForAnotherNameIsRefused() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().upstreamIdentity(ProxyFixture.PKI.issue("other.example", "other.example")),
                "4.7.5", "certificate not accepted", "certificate_invalid");
    }

    @Test
    void untrustedCertificateIsRefused() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().upstreamIdentity(
                TestPki.selfSigned("localhost", KeyType.RSA, "localhost", "127.0.0.1")),
                "4.7.5", "certificate not accepted", "certificate_invalid");
    }

    @Test
    void expiredCertificateIsRefused() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().upstreamIdentity(ProxyFixture.PKI.issueExpired("localhost", "localhost")),
                "4.7.5", "certificate not accepted", "certificate_invalid");
    }

    @Test
    void bannerRefusalIsQuoted() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().faults(Fault.BANNER_421), "4.4.0",
                "421 4.3.2 Service not available", "rejected");
    }

    @Test
    void ehloRefusalIsQuoted() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().faults(Fault.EHLO_5XX), "4.4.0", "554 5.7.1", "rejected");
    }

    @Test
    void silentUpstreamTimesOut() throws Exception {
        assertDeferredAtMail(ProxyFixture.builder().faults(Fault.SILENT).upstream("command_timeout: 1s"), "4.4.2",
                "timed out: no reply to the banner within 1s", "timeout");
    }

    @Test
    void unreachableUpstream() throws Exception {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        assertDeferredAtMail(ProxyFixture.builder().noUpstream(closedPort), "4.4.1", "cannot connect", "connect_failed");
    }

    @Test
    void injectedReplyAfterUpstreamStartTlsIsIgnored() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.STARTTLS_INJECTION).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
        }
    }

    @Test
    void recipientRefusalsComeBackVerbatim() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.RCPT_5XX).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
            assertEquals("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                    client.command("RCPT TO:<nobody@contoso.example>").toString());
            assertEquals(554, client.command("DATA").code());
            assertTrue(fixture.upstream.messages().isEmpty());
        }
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.RCPT_4XX).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
            assertEquals("451 4.4.4 Temporary recipient failure", client.command("RCPT TO:<b@contoso.example>").toString());
        }
    }

    @Test
    void pipelinedDataAfterRefusedRecipientsReadsNoData() throws Exception {
        // DATA goes upstream behind the RCPT before its refusal is known; the client must still
        // get the proxy's 554 and the session must go on as if DATA had waited.
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.RCPT_5XX).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            client.writeRaw("MAIL FROM:<a@legacy.example>\r\nRCPT TO:<nobody@contoso.example>\r\nDATA\r\n"
                    + "NOOP\r\n");
            assertEquals(250, client.readReply().code());
            assertEquals(550, client.readReply().code());
            assertEquals("554 5.5.1 No valid recipients", client.readReply().toString());
            assertEquals("250 2.0.0 OK", client.readReply().toString(), "the line after DATA is a command, not data");
            assertEquals(503, client.command("MAIL FROM:<a@legacy.example>").code(), "the transaction is still open");
            assertEquals(250, client.command("RSET").code());
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
            assertTrue(fixture.upstream.messages().isEmpty());
        }
    }

    @Test
    void endOfDataRefusalsComeBackVerbatim() throws Exception {
        for (Fault fault : List.of(Fault.DATA_END_4XX, Fault.DATA_END_5XX)) {
            try (ProxyFixture fixture = ProxyFixture.builder().faults(fault).start();
                 SmtpTestClient client = fixture.connect("plain")) {
                client.ehlo("sender.example");
                SmtpTestClient.Reply reply = RelayTest.send(client);
                assertEquals(fault == Fault.DATA_END_4XX ? "451 4.7.500 Server busy. Please try again later"
                        : "554 5.6.0 Message rejected", reply.toString());
                String outcome = fault == Fault.DATA_END_4XX ? "deferred" : "rejected";
                assertTrue(fixture.metrics().contains("smtp_proxy_messages_total{outcome=\"" + outcome + "\"} 1.0"));
                // The session goes on: the next transaction needs an RSET upstream first.
                assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
            }
        }
    }

    @Test
    void upstreamDroppingMidDataIsATemporaryFailure() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.DROP_MID_DATA).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            byte[] big = ("Subject: big\r\n\r\n" + "x".repeat(998) + "\r\n").repeat(2000).getBytes(StandardCharsets.US_ASCII);
            SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), big);
            assertEquals(451, reply.code(), reply.toString());
            assertTrue(reply.text().startsWith("4.4.2"), reply.toString());
            assertTrue(fixture.upstream.messages().isEmpty());
            // The sender may try again at once: a fresh upstream session serves it.
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
        }
    }

    @Test
    void upstreamSilentAtEndOfDataTimesOut() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.SILENT_AT_DATA_END).upstream("command_timeout: 1s").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            SmtpTestClient.Reply reply = RelayTest.send(client);
            assertEquals(451, reply.code(), reply.toString());
            assertTrue(reply.text().startsWith("4.4.2"), reply.toString());
        }
    }
}

package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** Senders of every kind reach the upstream over TLS 1.2+, with their bytes intact. */
@Timeout(90)
class RelayTest {

    static final String BODY = "From: a@legacy.example\r\nTo: b@contoso.example\r\nSubject: test\r\n\r\nHello.\r\n"
            + ".a line that starts with a dot\r\n..two dots\r\n";

    static void assertRelayed(ProxyFixture fixture, SmtpTestClient.Reply reply, int index) {
        assertEquals(250, reply.code(), reply.toString());
        assertTrue(fixture.upstream.awaitMessages(index + 1, Duration.ofSeconds(5)));
        ReceivedMessage received = fixture.upstream.messages().get(index);
        assertTrue(reply.text().contains(received.queueId()), "the upstream's queue id reaches the sender: " + reply);
        assertTrue(List.of("TLSv1.2", "TLSv1.3").contains(received.tlsProtocol()), received.tlsProtocol());
        assertTrue(received.content().startsWith("Received: from "), received.content());
        assertTrue(received.content().endsWith(BODY), "body relayed byte for byte:\n" + received.content());
        assertTrue(fixture.upstream.plaintextCommands().stream().allMatch(c -> c.startsWith("EHLO") || c.equals("STARTTLS")),
                "nothing but EHLO and STARTTLS in plaintext: " + fixture.upstream.plaintextCommands());
    }

    static SmtpTestClient.Reply send(SmtpTestClient client) throws Exception {
        return client.sendMessage("a@legacy.example", List.of("b@contoso.example"), BODY.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void plaintextSenderIsRelayedOverTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertRelayed(fixture, send(client), 0);
            assertTrue(fixture.upstream.messages().get(0).content().startsWith("Received: from sender.example ([127.0.0.1])"));
        }
    }

    @ParameterizedTest(name = "tls_provider {0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void legacyAndModernTlsSendersAreRelayedOverTls12Plus(String provider) throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().tlsProvider(provider).start()) {
            int index = 0;
            for (String protocol : List.of("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")) {
                try (SmtpTestClient client = fixture.connect("starttls")) {
                    client.ehlo("legacy.example");
                    assertTrue(client.capabilities().contains("STARTTLS"), client.capabilities().toString());
                    client.startTls(fixture.trust(protocol));
                    assertEquals(protocol, client.tlsProtocol());
                    client.ehlo("legacy.example");
                    assertRelayed(fixture, send(client), index);
                    assertTrue(fixture.upstream.messages().get(index).content()
                            .contains("with ESMTPS (" + protocol + ":"), "Received header names the sender's TLS");
                    index++;
                }
            }
            try (SmtpTestClient client = new SmtpTestClient()) {
                var address = fixture.address("smtps");
                client.connectImplicitTls(address.getHostString(), address.getPort(), fixture.trust("TLSv1"));
                assertEquals("TLSv1", client.tlsProtocol());
                client.ehlo("implicit.example");
                assertRelayed(fixture, send(client), index);
            }
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1\",side=\"inbound\"} 2.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"relayed\"} 5.0"), metrics);
        }
    }

    @Test
    void severalTransactionsShareOneSessionAndOneUpstreamConnection() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            for (int i = 0; i < 3; i++) {
                assertRelayed(fixture, send(client), i);
            }
            assertEquals(250, client.command("RSET").code());
            assertRelayed(fixture, send(client), 3);
            assertEquals(1, fixture.upstream.connections(), "one upstream session served every transaction");
        }
    }

    @Test
    void pipelinedCommandsAreAnsweredInOrderWithTheUpstreamsReplies() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertTrue(client.ehlo("sender.example").lines().contains("PIPELINING"));
            client.writeRaw("MAIL FROM:<a@legacy.example>\r\nRCPT TO:<b@contoso.example>\r\nRCPT TO:<c@contoso.example>\r\n"
                    + "NOOP\r\nDATA\r\n");
            assertEquals("250 2.1.0 Sender OK", client.readReply().toString());
            assertEquals("250 2.1.5 Recipient OK", client.readReply().toString());
            assertEquals("250 2.1.5 Recipient OK", client.readReply().toString());
            assertEquals("250 2.0.0 OK", client.readReply().toString());
            assertEquals(354, client.readReply().code());
            client.writeDotStuffed(BODY.getBytes(StandardCharsets.US_ASCII));
            assertRelayed(fixture, client.readReply(), 0);
            assertEquals(List.of("b@contoso.example", "c@contoso.example"), fixture.upstream.messages().get(0).recipients());
        }
    }

    @Test
    void upstreamOverImplicitTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().upstreamImplicitTls().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertRelayed(fixture, send(client), 0);
        }
    }

    @Test
    void mailParametersTheUpstreamCannotHonourAreRefusedNotDropped() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(555, client.command("MAIL FROM:<a@b.example> XFOO=1").code());
            assertEquals(552, client.command("MAIL FROM:<a@b.example> SIZE=999999999999").code());
            assertEquals(250, client.command("MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME").code());
        }
    }
}

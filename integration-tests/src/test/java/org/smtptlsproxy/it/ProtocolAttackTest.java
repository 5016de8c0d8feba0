package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** SMTP smuggling and STARTTLS command injection, end to end. */
@Timeout(60)
class ProtocolAttackTest {

    private static final String SMUGGLED = "MAIL FROM:<ceo@contoso.example>\r\nRCPT TO:<victim@contoso.example>\r\n"
            + "DATA\r\nSubject: smuggled\r\n\r\npay now\r\n";

    private static void openTransaction(SmtpTestClient client) throws Exception {
        client.ehlo("sender.example");
        assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
        assertEquals(250, client.command("RCPT TO:<b@contoso.example>").code());
        assertEquals(354, client.command("DATA").code());
    }

    @ParameterizedTest(name = "end of data faked with {0}")
    @ValueSource(strings = {"\\n.\\n", "\\r.\\r", "\\r\\n.\\n", "\\n.\\r\\n"})
    void smugglingIsRejectedAndNothingIsRelayed(String fakeEnd) throws Exception {
        String terminator = fakeEnd.replace("\\r", "\r").replace("\\n", "\n");
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            openTransaction(client);
            client.writeRaw("Subject: hello\r\n\r\nhi" + terminator + SMUGGLED + ".\r\n");
            SmtpTestClient.Reply reply = client.readReply();
            assertEquals("550 5.6.11 bare CR or LF in message data", reply.toString());
            // The session goes on, and an honest message still goes through exactly once.
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            assertFalse(fixture.upstream.awaitMessages(2, Duration.ofMillis(300)), "nothing smuggled");
            assertTrue(fixture.upstream.messages().stream().allMatch(m -> m.from().equals("a@legacy.example")));
            assertTrue(fixture.metrics().contains("smtp_proxy_messages_total{outcome=\"rejected\"} 1.0"));
        }
    }

    @Test
    void normalizeModeTurnsBareNewlinesIntoLinesNeverIntoAnEndOfData() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("bare_newlines: normalize").yaml("received_header: false").start();
             SmtpTestClient client = fixture.connect("plain")) {
            openTransaction(client);
            client.writeRaw("Subject: hello\r\n\r\nhi\n.\n" + SMUGGLED + "..real\r\n.\r\n");
            assertEquals(250, client.readReply().code());
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(5)));
            assertFalse(fixture.upstream.awaitMessages(2, Duration.ofMillis(300)), "one message, not two");
            ReceivedMessage received = fixture.upstream.messages().get(0);
            assertEquals("Subject: hello\r\n\r\nhi\r\n.\r\n" + SMUGGLED + ".real\r\n", received.content());
            assertEquals(List.of("b@contoso.example"), received.recipients());
        }
    }

    @Test
    void commandsPipelinedBehindStartTlsAreNotExecuted() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("starttls")) {
            client.ehlo("sender.example");
            // CVE-2011-0411: a man in the middle appends a command to the plaintext STARTTLS.
            client.writeRaw("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n");
            assertEquals(220, client.readReply().code());
            client.upgradeToTls(fixture.trust("TLSv1.2"));
            SmtpTestClient.Reply ehlo = client.ehlo("sender.example");
            assertEquals(250, ehlo.code());
            assertTrue(ehlo.lines().get(0).contains("Hello sender.example"), "the EHLO's own reply, not MAIL's: " + ehlo);
            // Had the MAIL run, this one would be a nested MAIL.
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
        }
    }

    @Test
    void stateIsForgottenAfterStartTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("starttls")) {
            client.ehlo("sender.example");
            client.startTls(fixture.trust("TLSv1.2"));
            assertEquals(503, client.command("MAIL FROM:<a@legacy.example>").code(), "EHLO again after TLS");
            assertEquals(503, client.command("STARTTLS").code());
        }
    }
}

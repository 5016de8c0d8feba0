package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

@Timeout(60)
class RelayTest {

    static final String BODY = "From: a@legacy.example\r\nTo: b@contoso.example\r\nSubject: test\r\n\r\nHello.\r\n"
            + ".a line that starts with a dot\r\n";

    @Test
    void plaintextSenderIsRelayedOverTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"),
                    BODY.getBytes(StandardCharsets.US_ASCII));
            assertEquals(250, reply.code(), reply.toString());
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(5)));
            ReceivedMessage received = fixture.upstream.messages().get(0);
            assertTrue(reply.text().contains(received.queueId()), "the upstream's queue id reaches the sender: " + reply);
            assertTrue(List.of("TLSv1.2", "TLSv1.3").contains(received.tlsProtocol()), received.tlsProtocol());
            assertTrue(received.content().startsWith("Received: from sender.example ([127.0.0.1])"), received.content());
            assertTrue(received.content().endsWith(BODY), "body relayed byte for byte");
            assertTrue(fixture.upstream.plaintextCommands().stream().noneMatch(c -> c.startsWith("MAIL")),
                    "nothing but EHLO/STARTTLS in plaintext: " + fixture.upstream.plaintextCommands());
        }
    }
}

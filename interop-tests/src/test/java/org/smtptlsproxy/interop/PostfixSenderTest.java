package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Postfix as the legacy MTA in front of the proxy: once with STARTTLS forced down to TLS 1.0 (an
 * old OpenSSL), once in plaintext. The message must arrive unchanged and Postfix's own log must
 * say {@code status=sent} with the upstream Postfix's queue id in the reply text: the proxy is
 * cut-through, the sender learns what the real destination said.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
class PostfixSenderTest {

    private static InteropEnvironment env;
    private static SenderPostfix tls1Sender;
    private static SenderPostfix plainSender;

    @BeforeAll
    static void startSenders(InteropEnvironment environment) throws Exception {
        env = environment;
        ProxyUnderTest proxy = env.proxy();
        tls1Sender = env.closeAtEnd(SenderPostfix.start("sender-tls1", env.directory("sender-tls1"),
                proxy.port("starttls"), SenderPostfix.Tls.TLS1_ONLY));
        plainSender = env.closeAtEnd(SenderPostfix.start("sender-plain", env.directory("sender-plain"),
                proxy.port("plain"), SenderPostfix.Tls.NONE));
    }

    @Test
    void postfixOverTls10DeliversThroughTheProxy() throws Exception {
        String token = TestMessages.token("postfix-tls1");
        byte[] message = TestMessages.plain(token, "legacy@sender.test", UpstreamPostfix.USER);
        String queueId = tls1Sender.submit("legacy@sender.test", UpstreamPostfix.USER, message);
        String status = tls1Sender.awaitStatus(queueId, UpstreamPostfix.USER, "sent");
        tls1Sender.postfix().awaitLog(Pattern.compile("TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:"
                + env.proxy().port("starttls") + ": TLSv1 with cipher"), java.time.Duration.ofSeconds(5));
        String upstreamId = SenderPostfix.upstreamQueueId(status);
        env.upstream().assertQueueIdIsOurs(upstreamId);
        DeliveredMessage delivered = Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", "TLSv1");
        assertTrue(delivered.upstreamReceived().contains("id " + upstreamId), delivered.upstreamReceived());
    }

    @Test
    void postfixInPlaintextDeliversThroughTheProxy() throws Exception {
        String token = TestMessages.token("postfix-plain");
        byte[] message = TestMessages.plain(token, "legacy@sender.test", UpstreamPostfix.USER);
        String queueId = plainSender.submit("legacy@sender.test", UpstreamPostfix.USER, message);
        String upstreamId = SenderPostfix.upstreamQueueId(plainSender.awaitStatus(queueId, UpstreamPostfix.USER, "sent"));
        env.upstream().assertQueueIdIsOurs(upstreamId);
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTP", null);
    }

    @Test
    void postfixEightBitMimeMessageArrivesUnchanged() throws Exception {
        String token = TestMessages.token("postfix-8bit");
        byte[] message = TestMessages.eightBit(token, "legacy@sender.test", UpstreamPostfix.USER);
        String queueId = tls1Sender.submit("legacy@sender.test", List.of(UpstreamPostfix.USER), message, "BODY=8BITMIME", "");
        String upstreamId = SenderPostfix.upstreamQueueId(tls1Sender.awaitStatus(queueId, UpstreamPostfix.USER, "sent"));
        env.upstream().assertQueueIdIsOurs(upstreamId);
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", "TLSv1");
    }
}

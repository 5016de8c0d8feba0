package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The sender-side retry story with a real Postfix: while the upstream answers 451 the message
 * stays in the sender's deferred queue (the proxy passed the upstream's 4xx back and kept
 * nothing); once the upstream recovers, a queue flush delivers it exactly once, and nothing
 * bounces.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(180)
class PostfixDeferredRetryTest {

    @Test
    void messageDeferredBy451IsDeliveredOnceOnRetry(InteropEnvironment env) throws Exception {
        // Its own upstream whose smtpd processes serve one connection each, and its own proxy
        // without pooled upstream sessions: no smtpd from before the recovery, holding the 451
        // table, can serve the retry.
        UpstreamPostfix upstream = env.closeAtEnd(UpstreamPostfix.start("upstream-retry", env.directory("upstream-retry"),
                InteropEnvironment.freePort(), env.upstreamIdentity, null, java.util.Map.of("max_use", "1")));
        ProxyUnderTest proxy = env.closeAtEnd(ProxyUnderTest.start(env.directory("proxy-nopool"), env.proxyIdentity,
                concat(env.upstreamYaml(upstream.port()), "  pool:", "    max_idle: 0")));
        SenderPostfix sender = env.closeAtEnd(SenderPostfix.start("sender-retry", env.directory("sender-retry"),
                proxy.port("starttls"), SenderPostfix.Tls.TLS1_ONLY));
        Mailbox mailbox = upstream.mailbox("defer");
        String token = TestMessages.token("postfix-retry");
        byte[] message = TestMessages.plain(token, "legacy@sender.test", UpstreamPostfix.DEFER);

        upstream.refuseDeferRecipient(true);
        try {
            String queueId = sender.submit("legacy@sender.test", UpstreamPostfix.DEFER, message);
            String deferral = sender.awaitStatus(queueId, UpstreamPostfix.DEFER, "deferred");
            assertTrue(deferral.contains("451 4.3.0") && deferral.contains("mailbox busy, try again later"),
                    "the upstream's own 451 reached the sender: " + deferral);
            List<String> queue = sender.postfix().queue();
            assertEquals(1, queue.size(), "one message queued: " + queue);
            assertTrue(queue.get(0).contains("\"queue_name\": \"deferred\"") && queue.get(0).contains(queueId)
                    && queue.get(0).contains("451 4.3.0"), "it waits in the deferred queue: " + queue);
            assertEquals(List.of(), mailbox.find(token), "nothing was delivered while the upstream refused");

            upstream.refuseDeferRecipient(false);
            sender.postfix().flush();
            String status = sender.awaitStatus(queueId, UpstreamPostfix.DEFER, "sent");
            upstream.assertQueueIdIsOurs(SenderPostfix.upstreamQueueId(status));
            Deliveries.assertRelayed(mailbox, token, message, "ESMTPS", "TLSv1");
            sender.postfix().awaitLog(Pattern.compile(Pattern.quote(queueId) + ": removed"), Duration.ofSeconds(10));
            assertEquals(List.of(), sender.postfix().queue(), "the sender's queue is empty");
            String log = sender.postfix().maillog();
            assertFalse(log.contains("status=bounced"), log);
            assertFalse(log.contains("sender non-delivery notification"), log);
            PostfixInstance.sleep(1000);
            assertEquals(1, mailbox.find(token).size(), "delivered exactly once");
        } finally {
            upstream.refuseDeferRecipient(false);
        }
    }

    private static List<String> concat(List<String> head, String... tail) {
        List<String> all = new java.util.ArrayList<>(head);
        all.addAll(List.of(tail));
        return all;
    }
}

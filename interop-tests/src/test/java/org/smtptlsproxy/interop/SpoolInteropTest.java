package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Spool mode between real mail software (issue 13): swaks, which like a scanner sends once and
 * never retries, speaks TLS 1.0 to a spooling listener while the Exchange-like Postfix upstream is
 * not even running; the message arrives byte for byte once Postfix is up. A recipient Postfix
 * refuses gets the sender an RFC 3464 notification, delivered through the same upstream.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(180)
class SpoolInteropTest {

    private static final Pattern SPOOLED = Pattern.compile("(?m)^<[~-] +250 2\\.0\\.0 Ok: queued as ([0-9a-z]+)\\s*$");

    @Test
    void aSenderThatNeverRetriesIsQueuedWhileTheUpstreamIsDownAndDeliveredOnceItIsUp(InteropEnvironment env)
            throws Exception {
        int upstreamPort = InteropEnvironment.freePort();
        Path spool = env.directory("spool");
        ProxyUnderTest proxy = env.closeAtEnd(ProxyUnderTest.start(env.directory("proxy-spool"), env.proxyIdentity,
                env.upstreamYaml(upstreamPort), spool));
        Path scratch = env.directory("swaks-spool");

        String token = TestMessages.token("spool-scanner");
        byte[] message = TestMessages.plain(token, "scanner@legacy.test", UpstreamPostfix.USER);
        Swaks.Result scan = new Swaks(proxy.port("spool"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1").send(message, scratch);
        assertEquals("TLSv1", scan.tlsProtocol(), scan.output());
        Matcher queued = SPOOLED.matcher(scan.output());
        assertTrue(queued.find(), "a 250 from the spool while the upstream is down:\n" + scan.output());

        String bounceToken = TestMessages.token("spool-bounce");
        byte[] partly = TestMessages.plain(bounceToken, UpstreamPostfix.NOTICES, UpstreamPostfix.USER);
        Swaks.Result app = new Swaks(proxy.port("spool"), UpstreamPostfix.NOTICES,
                UpstreamPostfix.USER + ",nobody@example.test").startTls("tlsv1_2").send(partly, scratch);
        assertTrue(SPOOLED.matcher(app.output()).find(), app.output());

        UpstreamPostfix upstream = env.closeAtEnd(UpstreamPostfix.start("upstream-spool", env.directory("upstream-spool"),
                upstreamPort, env.upstreamIdentity, null));
        Deliveries.assertRelayed(upstream.mailbox("user"), token, message, "ESMTPS", "TLSv1");
        Deliveries.assertRelayed(upstream.mailbox("user"), bounceToken, partly, "ESMTPS", "TLSv1.2");

        // nobody@ was refused by Postfix with a 5xx: one notification to the sender, via Postfix.
        DeliveredMessage notification = upstream.mailbox("notices").await("Subject: Undelivered Mail Returned to Sender",
                Duration.ofSeconds(60));
        String text = new String(notification.raw(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(text.contains("Final-Recipient: rfc822; nobody@example.test"), text);
        assertTrue(text.contains("Content-Type: multipart/report; report-type=delivery-status"), text);
        assertTrue(text.contains("Action: failed") && text.contains("Status: 5.1.1"), text);
        assertTrue(text.contains("Diagnostic-Code: smtp; 550 5.1.1"), text);
        assertTrue(text.contains(bounceToken), "the notification carries the original's headers:\n" + text);
        assertTrue(!text.contains("Final-Recipient: rfc822; " + UpstreamPostfix.USER), "user@ was delivered:\n" + text);

        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!proxy.metrics().contains("smtp_proxy_spool_messages 0.0") && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(proxy.metrics().contains("smtp_proxy_spool_messages 0.0"), "the spool drained:\n" + proxy.metrics());
    }
}

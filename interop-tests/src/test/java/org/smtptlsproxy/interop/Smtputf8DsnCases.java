package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The envelope arrives as sent (issue 16, item 7): a Postfix sender relays an SMTPUTF8 message
 * and a DSN request, and the upstream Postfix must see the exact octets and parameters. The same
 * cases run through the proxy ({@link Smtputf8DsnInteropTest}) and, as a control that keeps the
 * checks honest, from the sender straight to the upstream ({@link Smtputf8DsnDirectTest}).
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
abstract class Smtputf8DsnCases {

    static final String UTF8_SENDER = "jörg.müller@example.test";

    /** The sender Postfix for this route (started once per class by the subclass). */
    abstract SenderPostfix sender(InteropEnvironment env) throws Exception;

    /** True when the proxy is between sender and upstream, so its Received header must be there. */
    abstract boolean viaProxy();

    @Test
    void smtputf8EnvelopeArrivesAsTheExactOctetsSent(InteropEnvironment env) throws Exception {
        SenderPostfix sender = sender(env);
        String token = TestMessages.token("smtputf8");
        byte[] message = ("From: Jörg Müller <" + UTF8_SENDER + ">\r\n"
                + "To: <" + UpstreamPostfix.UTF8_USER + ">\r\n"
                + "Subject: interop " + token + " Grüße\r\n"
                + "Date: Sun, 06 Dec 2026 05:00:00 +0000\r\n"
                + "Message-ID: <" + token + "@interop.test>\r\n"
                + "MIME-Version: 1.0\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Transfer-Encoding: 8bit\r\n\r\n"
                + "Internationalized envelope, 用户 at 例子.\r\n").getBytes(StandardCharsets.UTF_8);
        String queueId = sender.submit(UTF8_SENDER, List.of(UpstreamPostfix.UTF8_USER), message,
                "SMTPUTF8 BODY=8BITMIME", "");
        String status = awaitFinalStatus(sender, queueId, UpstreamPostfix.UTF8_USER);
        String upstreamId = SenderPostfix.upstreamQueueId(status);
        env.upstream().assertQueueIdIsOurs(upstreamId);

        DeliveredMessage delivered = env.upstream().mailbox("utf8").await(token, Duration.ofSeconds(30));
        delivered.assertContentIs(message);
        // virtual(8) writes the envelope it received: sender in Return-Path, recipient in Delivered-To.
        assertTraceField(delivered, "Return-Path: <" + UTF8_SENDER + ">");
        assertTraceField(delivered, "Delivered-To: " + UpstreamPostfix.UTF8_USER);
        assertTraceField(delivered, "X-Original-To: " + UpstreamPostfix.UTF8_USER);
        if (viaProxy()) {
            assertEquals("TLSv1", delivered.proxyReceived().group(3));
        }
    }

    @Test
    void dsnParametersReachTheUpstreamUnchanged(InteropEnvironment env) throws Exception {
        SenderPostfix sender = sender(env);
        String token = TestMessages.token("dsn");
        String envid = "QQ+2B" + token;
        byte[] message = TestMessages.plain(token, UpstreamPostfix.NOTICES, UpstreamPostfix.HOLD);
        // What `sendmail -N success,failure -V ENVID -R hdrs` asks for, given over SMTP.
        String queueId = sender.submit(UpstreamPostfix.NOTICES, List.of(UpstreamPostfix.HOLD), message,
                "RET=HDRS ENVID=" + envid, "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;listed+2Balias@example.test");
        String status = awaitFinalStatus(sender, queueId, UpstreamPostfix.HOLD);
        String upstreamId = SenderPostfix.upstreamQueueId(status);

        // The upstream holds the message: its queue file still has the DSN envelope records.
        String envelope = env.upstream().postfix().postcat(upstreamId);
        for (String record : List.of(
                "named_attribute: envelope_id=QQ+" + token, // xtext "+2B" decoded by the upstream
                "named_attribute: ret_flags=2", // RET=HDRS
                "named_attribute: notify_flags=6", // NOTIFY=SUCCESS,FAILURE
                // Not the recipient itself: Postfix would record that one even without ORCPT.
                "named_attribute: dsn_orig_rcpt=rfc822;listed+alias@example.test")) {
            assertTrue(envelope.lines().anyMatch(line -> line.equals(record)),
                    "the upstream's envelope lacks '" + record + "':\n" + envelope);
        }
    }

    /** The sender's verdict for the message: {@code sent} passes, anything else fails with the log. */
    private static String awaitFinalStatus(SenderPostfix sender, String queueId, String recipient) {
        java.util.regex.Matcher line = sender.postfix().awaitLog(java.util.regex.Pattern.compile(
                java.util.regex.Pattern.quote(queueId) + ": to=<.*status=(\\w+) \\((.*)\\)$",
                java.util.regex.Pattern.MULTILINE), Duration.ofSeconds(60));
        if (!line.group(1).equals("sent")) {
            fail("the sender Postfix says status=" + line.group(1) + " for " + recipient + ": " + line.group()
                    + "\n--- sender maillog ---\n" + PostfixInstance.tail(sender.postfix().maillog(), 30));
        }
        return line.group(2);
    }

    private static void assertTraceField(DeliveredMessage delivered, String expected) {
        byte[] octets = expected.getBytes(StandardCharsets.UTF_8);
        boolean found = delivered.traceFields().stream()
                .anyMatch(field -> java.util.Arrays.equals(field.getBytes(StandardCharsets.UTF_8), octets));
        assertTrue(found, "expected the trace field " + expected + " (UTF-8 octets) in:\n"
                + String.join("\n", delivered.traceFields()));
    }
}

package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * The envelope arrives as sent: internationalized addresses (RFC 6531) as the very octets the
 * client wrote, DSN requests (RFC 3461) unchanged where the upstream takes them, and every MAIL
 * the proxy refuses counted and logged like any other ended transaction.
 */
@Timeout(60)
class EnvelopeExactnessTest {

    private static final byte[] MESSAGE = "Subject: exact\r\n\r\nbody\r\n".getBytes(StandardCharsets.US_ASCII);

    @RegisterExtension
    final TransactionLogCapture log = new TransactionLogCapture();

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** The octets of the first command the upstream got that starts with {@code prefix}. */
    private static byte[] upstreamLine(ProxyFixture fixture, String prefix) {
        byte[] start = utf8(prefix);
        return fixture.upstream.commandOctets().stream()
                .filter(line -> line.length >= start.length && Arrays.equals(line, 0, start.length, start, 0, start.length))
                .findFirst().orElseThrow(() -> new AssertionError("upstream never got " + prefix + ": "
                        + fixture.upstream.commandsSeen()));
    }

    private static SmtpTestClient.Reply command(SmtpTestClient client, byte[] line) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(line);
        out.write('\r');
        out.write('\n');
        client.writeRaw(out.toByteArray());
        return client.readReply();
    }

    @Test
    void internationalizedAddressesReachTheUpstreamAsTheOctetsSent() throws Exception {
        String sender = "jörg.müller@bücher.example";
        String recipient = "用户€@例子.test";
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertTrue(client.ehlo("sender.example").lines().contains("SMTPUTF8"));
            assertEquals(250, command(client, utf8("MAIL FROM:<" + sender + "> SMTPUTF8 BODY=8BITMIME")).code());
            assertEquals(250, command(client, utf8("RCPT TO:<" + recipient + ">")).code());
            assertEquals(354, client.command("DATA").code());
            client.writeDotStuffed(MESSAGE);
            assertEquals(250, client.readReply().code());
            assertArrayEquals(utf8("MAIL FROM:<" + sender + "> SMTPUTF8 BODY=8BITMIME"), upstreamLine(fixture, "MAIL"));
            assertArrayEquals(utf8("RCPT TO:<" + recipient + ">"), upstreamLine(fixture, "RCPT"));
            assertTrue(fixture.upstream.messages().get(0).content().contains("(smtp-tls-proxy) with UTF8SMTP\r\n"),
                    "RFC 6531 4.3: " + fixture.upstream.messages().get(0).content());
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("from=<" + sender + ">") && l.contains("outcome=relayed")),
                    log.lines().toString());
        }
    }

    @Test
    void nonAsciiOrEightBitAddressesWithoutSmtputf8AreRefusedNeverRelayed() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            // UTF-8, but no SMTPUTF8: RFC 6531 3.7.4.1
            SmtpTestClient.Reply reply = command(client, utf8("MAIL FROM:<jörg@bücher.example>"));
            assertEquals("553 5.6.7 Non-ASCII address not permitted without SMTPUTF8", reply.toString().strip());
            // Latin-1 octets: not UTF-8 at all
            byte[] latin1 = "MAIL FROM:<j\u00f6rg@example.com>".getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(553, command(client, latin1).code());
            byte[] latin1Utf8 = "MAIL FROM:<j\u00f6rg@example.com> SMTPUTF8".getBytes(StandardCharsets.ISO_8859_1);
            reply = command(client, latin1Utf8);
            assertEquals("553 5.6.7 Address is not valid UTF-8", reply.toString().strip());
            // A transaction without SMTPUTF8 cannot take an internationalized recipient either.
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
            assertEquals(553, command(client, utf8("RCPT TO:<用户@例子.test>")).code());
            assertEquals(553, command(client, "RCPT TO:<b\u00e9@x.example>".getBytes(StandardCharsets.ISO_8859_1)).code());
            assertEquals(250, client.command("RSET").code());
            assertTrue(fixture.upstream.commandsSeen().stream().noneMatch(c -> c.contains("rg@")),
                    fixture.upstream.commandsSeen().toString());
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"rejected\"} 3.0"), metrics);
        }
    }

    @Test
    void smtputf8ToAnUpstreamWithoutItIsRefusedNotDowngraded() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().customizeUpstream(u -> u.without("SMTPUTF8")).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            SmtpTestClient.Reply reply = command(client, utf8("MAIL FROM:<jörg@bücher.example> SMTPUTF8"));
            assertEquals(555, reply.code(), reply.toString());
            assertTrue(fixture.metrics().contains("smtp_proxy_messages_total{outcome=\"rejected\"} 1.0"));
        }
    }

    @Test
    void dsnRequestsPassUnchangedToAnUpstreamThatOffersDsn() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().customizeUpstream(u -> u.extensions("DSN")).start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertTrue(client.ehlo("sender.example").lines().contains("DSN"));
            String mail = "MAIL FROM:<a@legacy.example> RET=HDRS ENVID=QQ314159+2Bx";
            String rcpt = "RCPT TO:<b@contoso.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40contoso.example";
            assertEquals(250, client.command(mail).code());
            assertEquals(250, client.command(rcpt).code());
            assertEquals(354, client.command("DATA").code());
            client.writeDotStuffed(MESSAGE);
            assertEquals(250, client.readReply().code());
            assertArrayEquals(utf8(mail), upstreamLine(fixture, "MAIL"));
            assertArrayEquals(utf8(rcpt), upstreamLine(fixture, "RCPT"));
        }
    }

    @Test
    void dsnRequestsAreDroppedForAnUpstreamWithoutDsnAndTheMailStillGoes() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example> RET=FULL ENVID=abc").code());
            assertEquals(250, client.command("RCPT TO:<b@contoso.example> NOTIFY=NEVER").code());
            assertEquals(354, client.command("DATA").code());
            client.writeDotStuffed(MESSAGE);
            assertEquals(250, client.readReply().code());
            assertArrayEquals(utf8("MAIL FROM:<a@legacy.example>"), upstreamLine(fixture, "MAIL"));
            assertArrayEquals(utf8("RCPT TO:<b@contoso.example>"), upstreamLine(fixture, "RCPT"));
        }
    }

    @Test
    void malformedDsnAndAuthParametersAreSyntaxErrors() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            for (String mail : List.of("MAIL FROM:<a@x.example> RET=ALL", "MAIL FROM:<a@x.example> ENVID=a=b",
                    "MAIL FROM:<a@x.example> ENVID=a+2", "MAIL FROM:<a@x.example> ENVID=" + "x".repeat(101),
                    "MAIL FROM:<a@x.example> AUTH=a=b")) {
                assertEquals(501, client.command(mail).code(), mail);
            }
            assertEquals(250, client.command("MAIL FROM:<a@x.example> AUTH=<>").code());
            for (String rcpt : List.of("RCPT TO:<b@x.example> NOTIFY=NEVER,SUCCESS", "RCPT TO:<b@x.example> NOTIFY=SOMETIMES",
                    "RCPT TO:<b@x.example> ORCPT=b@x.example", "RCPT TO:<b@x.example> ORCPT=utf-8;b@x.example")) {
                assertEquals(501, client.command(rcpt).code(), rcpt);
            }
            assertEquals(555, client.command("RCPT TO:<b@x.example> FOO=BAR").code());
        }
    }

    @Test
    void authParameterGoesOnlyToAnAuthenticatedUpstreamAndOnlyAsTheProxyCanVouch() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().requireUpstreamAuth("relay@contoso.example", "pw")
                .upstreamAuth("plain", "relay@contoso.example", "pw").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            // The sender never authenticated to the proxy: RFC 4954 5 says AUTH=<> from here on.
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example> AUTH=someone+40x.example").code());
            assertArrayEquals(utf8("MAIL FROM:<a@legacy.example> AUTH=<>"), upstreamLine(fixture, "MAIL"));
        }
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(250, client.command("MAIL FROM:<a@legacy.example> AUTH=<>").code());
            assertArrayEquals(utf8("MAIL FROM:<a@legacy.example>"), upstreamLine(fixture, "MAIL"));
        }
    }

    @Test
    void everyMailTheProxyRefusesIsCountedAndLogged() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().plainListener("allowed_senders: [\"@allowed.example\"]")
                .limit("max_message_size: 1MB").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(550, client.command("MAIL FROM:<a@other.example>").code());
            assertEquals(552, client.command("MAIL FROM:<a@allowed.example> SIZE=2000000").code());
            // Too large for any 64-bit size is still "too large", not a syntax error.
            assertEquals(552, client.command("MAIL FROM:<a@allowed.example> SIZE=99999999999999999999999").code());
            // Which "@" would count is anyone's guess: no address at all.
            SmtpTestClient.Reply twoAts = client.command("MAIL FROM:<local@evil.example@allowed.example>");
            assertEquals("501 5.1.7 Bad sender address syntax", twoAts.toString().strip());
            assertEquals(250, client.command("MAIL FROM:<\"local@evil\"@allowed.example>").code());
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"rejected\"} 4.0"), metrics);
            assertEquals(4, log.lines().stream().filter(l -> l.contains("outcome=rejected")).count(), log.lines().toString());
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("from=<a@other.example>") && l.contains("reply=\"550 5.7.1")),
                    log.lines().toString());
            assertFalse(log.lines().stream().anyMatch(l -> l.contains("outcome=relayed")));
        }
        try (ProxyFixture fixture = ProxyFixture.builder().usersFile("u:" + org.smtptlsproxy.auth.PasswordHashes.bcrypt("p", 4) + "\n")
                .plainListener("auth:").plainListener("  required: true").plainListener("  allow_plaintext: true")
                .plainListener("  users_file: users").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(530, client.command("MAIL FROM:<a@x.example>").code());
            assertTrue(fixture.metrics().contains("smtp_proxy_messages_total{outcome=\"rejected\"} 1.0"));
        }
    }

    @Test
    void anUpstreamDropInMidDataLeavesATrueLogLine() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().faults(org.smtptlsproxy.testkit.Fault.DROP_MID_DATA).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            byte[] message = ("Subject: big\r\n\r\n" + "line of text\r\n".repeat(20_000)).getBytes(StandardCharsets.US_ASCII);
            SmtpTestClient.Reply reply;
            try {
                reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), message);
            } catch (SmtpTestClient.UnexpectedReplyException e) {
                reply = e.reply();
            }
            assertEquals(451, reply.code(), reply.toString());
            String line = log.lines().stream().filter(l -> l.contains("outcome=deferred")).findFirst().orElseThrow();
            assertTrue(line.contains("out_tls=TLSv1."), line);
            assertFalse(line.contains("out_cipher=none"), line);
            assertTrue(line.contains("size=" + message.length + " "), line);
        }
    }
}

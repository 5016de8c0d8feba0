package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * The sender gets a 2xx only for the upstream's well-formed 2xx. Whatever else an upstream says
 * at MAIL, RCPT, DATA or the end of data ("25x", "+OK", a multi-line reply whose lines disagree),
 * the sender gets a 451 within the command timeout, nothing counts as relayed, and no internal
 * exception text reaches the reply.
 */
@Timeout(180)
class UpstreamReplyGrammarTest {

    private static final int COMMAND_TIMEOUT_SECONDS = 3;
    private static final byte[] MESSAGE = "Subject: grammar\r\n\r\nbody\r\n".getBytes(StandardCharsets.US_ASCII);

    /** The replies the issue found turning into successes or hangs, each at the end of data. */
    private static final List<String> KNOWN_BAD = List.of(
            "25x 2.6.0 queued\r\n",
            "3x0 go on\r\n",
            "2x0 ok\r\n",
            "2:0 ok\r\n",
            "+OK queued\r\n",
            "290 2.0.0 queued\r\n",
            "250-2.6.0 first line\r\n251 2.6.0 second line disagrees\r\n",
            "250\t2.6.0 tab is no separator\r\n",
            "25\r\n",
            "\r\n",
            "650 6.0.0 six is no class\r\n",
            "050 zero\r\n");

    @Test
    void knownMalformedEndOfDataRepliesAreNeverASuccess() throws Exception {
        try (ProxyFixture fixture = fixture().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            for (String raw : KNOWN_BAD) {
                fixture.upstream.script("END", raw);
                assertProtocolError(sendTimed(client), raw);
            }
            assertNothingRelayed(fixture);
        }
    }

    /**
     * Property: over generated malformed replies, at every stage of a transaction, the client never
     * sees a 2xx or 3xx for the stage, always a 451 in time.
     */
    @Test
    void generatedMalformedRepliesAtEveryStageAreA451() throws Exception {
        Random random = new Random(Long.getLong("grammar.seed", 20261206L));
        try (ProxyFixture fixture = fixture().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            String[] stages = {"MAIL", "RCPT", "DATA", "END"};
            for (int i = 0; i < 120; i++) {
                String stage = stages[i % stages.length];
                String raw = malformed(random);
                fixture.upstream.script(stage, raw);
                long started = System.nanoTime();
                SmtpTestClient.Reply reply = runUntil(client, stage);
                long millis = (System.nanoTime() - started) / 1_000_000;
                fixture.upstream.script(stage, null);
                assertProtocolError(reply, stage + " " + printable(raw));
                assertTrue(millis < (COMMAND_TIMEOUT_SECONDS + 2) * 1000L, stage + " " + printable(raw) + " took " + millis + " ms");
                client.command("RSET");
            }
            assertNothingRelayed(fixture);
        }
    }

    @Test
    void enhancedCodeOfAnotherClassIsDroppedAndTheReplyStaysAFailure() throws Exception {
        try (ProxyFixture fixture = fixture().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            fixture.upstream.script("END", "550 2.6.0 Queued, or so it says\r\n");
            SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE);
            assertEquals(550, reply.code(), reply.toString());
            assertEquals("Queued, or so it says", reply.text(), reply.toString());
            assertTrue(fixture.metrics().contains("smtp_proxy_messages_total{outcome=\"rejected\"} 1.0"));
        }
    }

    @Test
    void wellFormedOddRepliesStillPass() throws Exception {
        try (ProxyFixture fixture = fixture().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            fixture.upstream.script("END", "250-2.6.0 <q1@upstream> queued\r\n250 2.6.0 second line\r\n");
            SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE);
            assertEquals(250, reply.code(), reply.toString());
            assertEquals(List.of("2.6.0 <q1@upstream> queued", "2.6.0 second line"), reply.lines());
            fixture.upstream.script("END", "250\r\n");
            reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE);
            assertEquals(250, reply.code(), reply.toString());
        }
    }

    @Test
    void malformedBannerIsAProtocolErrorAtMail() throws Exception {
        try (ProxyFixture fixture = fixture().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            fixture.upstream.script("EHLO", "250-fake.upstream\r\n220 wrong code in the middle\r\n");
            SmtpTestClient.Reply reply = client.command("MAIL FROM:<a@legacy.example>");
            assertProtocolError(reply, "EHLO");
            assertTrue(fixture.metrics().contains("smtp_proxy_upstream_sessions_total{outcome=\"protocol_error\"} 1.0"),
                    fixture.metrics());
        }
    }

    private static ProxyFixture.Builder fixture() {
        return ProxyFixture.builder()
                .upstream("command_timeout: " + COMMAND_TIMEOUT_SECONDS + "s")
                .upstream("pool:")
                .upstream("  max_idle: 2");
    }

    /** Runs a transaction up to {@code stage}; returns the reply to that stage. */
    private static SmtpTestClient.Reply runUntil(SmtpTestClient client, String stage) throws Exception {
        SmtpTestClient.Reply mail = client.command("MAIL FROM:<a@legacy.example>");
        if (stage.equals("MAIL")) {
            return mail;
        }
        assertEquals(250, mail.code(), mail.toString());
        SmtpTestClient.Reply rcpt = client.command("RCPT TO:<b@contoso.example>");
        if (stage.equals("RCPT")) {
            return rcpt;
        }
        assertEquals(250, rcpt.code(), rcpt.toString());
        SmtpTestClient.Reply data = client.command("DATA");
        if (stage.equals("DATA")) {
            return data;
        }
        assertEquals(354, data.code(), data.toString());
        client.writeDotStuffed(MESSAGE);
        return client.readReply();
    }

    private static SmtpTestClient.Reply sendTimed(SmtpTestClient client) throws Exception {
        long started = System.nanoTime();
        SmtpTestClient.Reply reply = runUntil(client, "END");
        long millis = (System.nanoTime() - started) / 1_000_000;
        assertTrue(millis < (COMMAND_TIMEOUT_SECONDS + 2) * 1000L, "took " + millis + " ms: " + reply);
        return reply;
    }

    private static void assertProtocolError(SmtpTestClient.Reply reply, String what) {
        assertEquals(451, reply.code(), what + " -> " + reply);
        assertTrue(reply.text().startsWith("4."), what + " -> " + reply);
        assertFalse(reply.text().contains("Exception") || reply.text().contains("io.netty") || reply.text().contains("java."),
                what + " -> " + reply);
    }

    private static void assertNothingRelayed(ProxyFixture fixture) {
        String metrics = fixture.metrics();
        assertFalse(metrics.contains("smtp_proxy_messages_total{outcome=\"relayed\"} 1"), metrics);
        assertTrue(fixture.upstream.messages().isEmpty());
    }

    /**
     * One malformed reply: a bad code, a bad separator, lines that disagree, garbage, or a valid
     * first line followed by a broken one. None of them is a complete well-formed reply.
     */
    static String malformed(Random random) {
        String text = randomText(random);
        return switch (random.nextInt(8)) {
            case 0 -> badDigit(random, 0) + text + "\r\n";
            case 1 -> badDigit(random, 1) + text + "\r\n";
            case 2 -> badDigit(random, 2) + text + "\r\n";
            case 3 -> validCode(random) + "=:+.\t/".charAt(random.nextInt(6)) + text + "\r\n";
            case 4 -> {
                int code = validCodeNumber(random);
                int other = code == 250 ? 251 : 250;
                yield code + "-" + text + "\r\n" + other + " " + text + "\r\n";
            }
            case 5 -> validCode(random) + "-" + text + "\r\n" + badDigit(random, random.nextInt(3)) + text + "\r\n";
            case 6 -> List.of("+OK", "OK", "HTTP/1.1 200 OK", "* OK", "2", "25", "")
                    .get(random.nextInt(7)) + "\r\n";
            default -> {
                byte[] junk = new byte[1 + random.nextInt(20)];
                random.nextBytes(junk);
                junk[0] = (byte) ("xX!+#"). charAt(random.nextInt(5));
                StringBuilder line = new StringBuilder();
                for (byte b : junk) {
                    line.append((char) (b == '\n' ? 'n' : b & 0xff));
                }
                yield line + "\r\n";
            }
        };
    }

    private static String badDigit(Random random, int position) {
        char[] code = validCode(random).toCharArray();
        String bad = switch (position) {
            case 0 -> "016789x:";
            case 1 -> "6789x:";
            default -> "x:/ a";
        };
        code[position] = bad.charAt(random.nextInt(bad.length()));
        return new String(code) + " ";
    }

    private static String validCode(Random random) {
        return Integer.toString(validCodeNumber(random));
    }

    private static int validCodeNumber(Random random) {
        return (2 + random.nextInt(4)) * 100 + random.nextInt(6) * 10 + random.nextInt(10);
    }

    private static String randomText(Random random) {
        List<String> words = new ArrayList<>(List.of("2.6.0", "queued", "<id@upstream>", "OK", "go", "ahead"));
        StringBuilder text = new StringBuilder();
        for (int i = random.nextInt(4); i >= 0; i--) {
            text.append(words.get(random.nextInt(words.size()))).append(' ');
        }
        return text.toString().strip();
    }

    private static String printable(String raw) {
        return raw.replace("\r", "\\r").replace("\n", "\\n");
    }
}

package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.auth.PasswordHashes;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** What a hardened MTA gives a client that does not play by the rules, on real sockets. */
@Timeout(90)
class HostileClientTest {

    private static final String USERS = "scanner:" + PasswordHashes.bcrypt("scan-pass", 4) + "\n";

    private static ProxyFixture.Builder withAuth() {
        return ProxyFixture.builder().usersFile(USERS)
                .plainListener("auth:").plainListener("  allow_plaintext: true").plainListener("  users_file: users")
                .smtpsListener("auth:").smtpsListener("  users_file: users");
    }

    private static String plain(String user, String password) {
        return Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static long millisSince(long started) {
        return (System.nanoTime() - started) / 1_000_000;
    }

    /** The reply comes as the limit is passed, with no line end ever sent; the session goes on. */
    private static void assertAnsweredAtTheLimit(SmtpTestClient client, String head, int length) throws Exception {
        client.writeRaw(head + "A".repeat(length - head.length()));
        long started = System.nanoTime();
        SmtpTestClient.Reply reply = client.readReply();
        assertEquals("500 5.5.2 Line too long", reply.toString().strip(), head);
        assertTrue(millisSince(started) < 5000, head + ": answered after " + millisSince(started) + " ms");
        // The rest of the line is discarded; what is pipelined behind it is served.
        client.writeRaw("AAAA\r\nNOOP\r\n");
        assertEquals(250, client.readReply().code(), head);
    }

    @Test
    void overLongLinesAreAnsweredAsTheLimitPasses() throws Exception {
        try (ProxyFixture fixture = withAuth().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertAnsweredAtTheLimit(client, "NOOP ", 600);
            assertAnsweredAtTheLimit(client, "AUTH PLAIN ", 13_000);
            assertEquals(334, client.command("AUTH LOGIN").code());
            assertAnsweredAtTheLimit(client, "", 13_000);
            assertEquals(235, client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).code());
        }
    }

    @Test
    void overLongLinesInsideTlsAreAnsweredToo() throws Exception {
        try (ProxyFixture fixture = withAuth().start();
             SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
            var smtps = fixture.address("smtps");
            client.connectImplicitTls(smtps.getHostString(), smtps.getPort(), fixture.trust("TLSv1.2"));
            client.ehlo("sender.example");
            assertAnsweredAtTheLimit(client, "AUTH PLAIN ", 20_000);
            assertEquals(334, client.command("AUTH PLAIN").code());
            assertAnsweredAtTheLimit(client, "", 12_300);
        }
    }

    @Test
    void controlCharactersInACommandAreASyntaxError() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            for (String line : new String[] {"NOOP\0x\r\n", "NO\rOP\r\n", "MAIL FROM:<a@b.example>\u0001\r\n"}) {
                client.writeRaw(line);
                SmtpTestClient.Reply reply = client.readReply();
                assertEquals(500, reply.code(), reply.toString());
                assertTrue(reply.text().startsWith("5.5.2 Syntax error"), reply.toString());
            }
            assertEquals(250, client.command("NOOP").code());
        }
    }

    @Test
    void aCommandLineDrippedByteByByteEndsAtTheIdleTimeout() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("idle_timeout: 2s").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            long started = System.nanoTime();
            String line = "MAIL FROM:<a-very-patient-sender@legacy.example>";
            SmtpTestClient.Reply reply = null;
            for (int i = 0; i < line.length() && reply == null; i++) {
                client.writeRaw(line.substring(i, i + 1));
                Thread.sleep(250);
                if (client.hasInput()) {
                    reply = client.readReply();
                }
            }
            assertTrue(reply != null, "still no reply after " + millisSince(started) + " ms of dripping");
            assertEquals("421 4.4.2 Command line not completed in time, closing connection", reply.toString().strip());
            assertTrue(client.isClosedByServer());
            assertTrue(fixture.metrics().contains(
                    "smtp_proxy_sessions_refused_total{listener=\"plain\",reason=\"line_timeout\"} 1.0"), fixture.metrics());
        }
    }

    @Test
    void httpRequestsCloseTheSessionAtOnce() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            for (String request : new String[] {"GET / HTTP/1.1\r\nHost: relay.example\r\n\r\n",
                    "POST /upload HTTP/1.1\r\n", "CONNECT mx.example:25 HTTP/1.1\r\n", "Host: relay.example\r\n"}) {
                try (SmtpTestClient client = fixture.connect("plain")) {
                    client.writeRaw(request);
                    SmtpTestClient.Reply reply = client.readReply();
                    assertEquals(554, reply.code(), request);
                    assertTrue(client.isClosedByServer(), request);
                }
            }
            assertTrue(fixture.metrics().contains(
                    "smtp_proxy_sessions_refused_total{listener=\"plain\",reason=\"forbidden_command\"} 4.0"), fixture.metrics());
        }
    }

    @Test
    void authFailuresAreLimitedPerAddressAcrossConnections() throws Exception {
        try (ProxyFixture fixture = withAuth().limit("auth_failures_per_client: 2").limit("auth_failure_window: 1m").start()) {
            for (int i = 0; i < 2; i++) {
                try (SmtpTestClient guesser = fixture.connect("plain")) {
                    guesser.ehlo("guesser.example");
                    assertEquals(535, guesser.command("AUTH PLAIN " + plain("scanner", "guess" + i)).code());
                }
            }
            try (SmtpTestClient guesser = fixture.connect("plain")) {
                guesser.ehlo("guesser.example");
                // Even the right password: the address has used up its tries for this window.
                SmtpTestClient.Reply reply = guesser.command("AUTH PLAIN " + plain("scanner", "scan-pass"));
                assertEquals("421 4.7.0 Too many failed authentications from your address, try again later",
                        reply.toString().strip());
                assertTrue(guesser.isClosedByServer());
            }
            try (SmtpTestClient sender = fixture.connect("plain")) {
                sender.ehlo("sender.example");
                assertEquals(250, sender.command("MAIL FROM:<a@legacy.example>").code(), "mail without AUTH still works");
            }
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_sessions_refused_total{listener=\"plain\",reason=\"auth_throttled\"} 1.0"),
                    metrics);
        }
    }
}

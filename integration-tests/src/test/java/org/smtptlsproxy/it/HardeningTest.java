package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.auth.PasswordHashes;
import org.smtptlsproxy.server.Main;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** Inbound AUTH, sender policy and hostile clients. */
@Timeout(60)
class HardeningTest {

    private static final String USERS = "# test users\n"
            + "scanner:" + PasswordHashes.bcrypt("scan-pass", 4) + "\n"
            + "erp:" + PasswordHashes.pbkdf2("erp-pass", 10_000) + "\n";

    private static String plain(String user, String password) {
        return Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private static ProxyFixture withAuth(String... extra) throws Exception {
        ProxyFixture.Builder builder = ProxyFixture.builder().usersFile(USERS)
                .starttlsListener("auth:").starttlsListener("  required: true").starttlsListener("  users_file: users");
        for (String line : extra) {
            builder.plainListener(line);
        }
        return builder.start();
    }

    @Test
    void authIsOfferedOnlyInsideTlsAndRequiredBeforeMail() throws Exception {
        try (ProxyFixture fixture = withAuth(); SmtpTestClient client = fixture.connect("starttls")) {
            assertFalse(client.ehlo("scanner.example").text().contains("AUTH"), "no AUTH offered in plaintext");
            assertEquals(538, client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).code());
            client.startTls(fixture.trust("TLSv1"));
            assertTrue(client.ehlo("scanner.example").lines().contains("AUTH PLAIN LOGIN"));
            assertEquals("530 5.7.0 Authentication required", client.command("MAIL FROM:<a@b.example>").toString());
            long started = System.nanoTime();
            assertEquals("535 5.7.8 Authentication credentials invalid", client.command("AUTH PLAIN " + plain("scanner", "wrong")).toString());
            assertTrue(System.nanoTime() - started >= 900_000_000L, "failures are slowed down");
            assertEquals(535, client.command("AUTH PLAIN " + plain("nobody", "scan-pass")).code());
            assertEquals("235 2.7.0 Authentication successful", client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).toString());
            assertEquals(503, client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).code());
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            assertTrue(fixture.upstream.messages().get(0).content().contains("with ESMTPSA (TLSv1:"), "Received says authenticated");
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_auth_total{outcome=\"failure\"} 2.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_auth_total{outcome=\"success\"} 1.0"), metrics);
        }
    }

    @Test
    void authLoginWithAPbkdf2UserAndChallengeResponses() throws Exception {
        try (ProxyFixture fixture = withAuth(); SmtpTestClient client = fixture.connect("starttls")) {
            client.ehlo("erp.example");
            client.startTls(fixture.trust("TLSv1.2"));
            client.ehlo("erp.example");
            assertEquals("334 VXNlcm5hbWU6", client.command("AUTH LOGIN").toString());
            assertEquals("334 UGFzc3dvcmQ6", client.command(b64("erp")).toString());
            assertEquals(235, client.command(b64("erp-pass")).code());
            assertEquals(250, client.command("MAIL FROM:<erp@contoso.example>").code());
        }
        try (ProxyFixture fixture = withAuth(); SmtpTestClient client = fixture.connect("starttls")) {
            client.ehlo("erp.example");
            client.startTls(fixture.trust("TLSv1.2"));
            client.ehlo("erp.example");
            assertEquals(334, client.command("AUTH PLAIN").code());
            assertEquals("501 5.7.0 Authentication cancelled", client.command("*").toString());
            assertEquals(250, client.command("NOOP").code(), "back to commands");
        }
    }

    @Test
    void allowPlaintextOffersAuthWithoutTls() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().usersFile(USERS).plainListener("auth:")
                .plainListener("  allow_plaintext: true").plainListener("  users_file: users").start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertTrue(client.ehlo("printer.example").lines().contains("AUTH PLAIN LOGIN"));
            assertEquals(235, client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).code());
            RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            assertTrue(fixture.upstream.messages().get(0).content().contains("with ESMTPA"));
        }
    }

    @Test
    void hashPasswordMakesUsersFileLines() {
        java.io.InputStream stdin = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream("s3cret\n".getBytes()));
            StringWriter out = new StringWriter();
            assertEquals(0, Main.run(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true),
                    "hash-password", "printer", "--algorithm", "pbkdf2", "--iterations", "10000"));
            String line = out.toString().strip();
            assertTrue(line.startsWith("printer:$pbkdf2-sha256$10000$"), line);
            assertTrue(PasswordHashes.matches(line.substring("printer:".length()), "s3cret"));
            assertFalse(PasswordHashes.matches(line.substring("printer:".length()), "s3cret!"));
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void sendersOutsideAllowedSendersAreRefused() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder()
                .plainListener("allowed_senders: [\"@contoso.example\", printer@legacy.example]").start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals("550 5.7.1 Sender address not allowed on this listener",
                    client.command("MAIL FROM:<ceo@fabrikam.example>").toString());
            assertEquals(250, client.command("MAIL FROM:<Scanner@CONTOSO.example>").code());
            assertEquals(250, client.command("RSET").code());
            assertEquals(250, client.command("MAIL FROM:<printer@legacy.example>").code());
        }
    }

    @Test
    void aClientThatSendsGarbageIsCutOff() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start(); SmtpTestClient client = fixture.connect("plain")) {
            StringBuilder garbage = new StringBuilder();
            for (int i = 0; i < 25; i++) {
                garbage.append("XYZZY plugh\r\n"); // HTTP verbs end a session at once: HostileClientTest
            }
            long started = System.nanoTime();
            client.writeRaw(garbage.toString());
            SmtpTestClient.Reply reply;
            int errors = 0;
            do {
                reply = client.readReply();
                errors++;
            } while (reply.code() == 500);
            assertEquals("421 4.7.0 Too many errors, closing connection", reply.toString());
            assertEquals(21, errors);
            assertTrue(System.nanoTime() - started >= 1_400_000_000L, "errors after the fifth are slowed down");
            assertTrue(client.isClosedByServer());
        }
    }

    @Test
    void aClientThatNeverReadsCannotMakeTheProxyBuffer() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             Socket socket = new Socket(fixture.address("plain").getHostString(), fixture.address("plain").getPort())) {
            byte[] noops = "NOOP\r\n".repeat(10_000).getBytes(StandardCharsets.US_ASCII);
            AtomicLong written = new AtomicLong();
            Thread writer = new Thread(() -> {
                try {
                    OutputStream out = socket.getOutputStream();
                    while (!Thread.currentThread().isInterrupted()) {
                        out.write(noops);
                        written.addAndGet(noops.length);
                    }
                } catch (java.io.IOException stopped) {
                    // closed at the end of the test
                }
            });
            writer.setDaemon(true);
            writer.start();
            Thread.sleep(3000);
            long first = written.get();
            Thread.sleep(1000);
            long second = written.get();
            assertEquals(first, second, "the proxy stopped reading: the writer is blocked");
            assertTrue(first < 64L << 20, "bounded by socket buffers, not by the proxy's memory: " + first);
            // Other sessions are unaffected.
            try (SmtpTestClient client = fixture.connect("plain")) {
                client.ehlo("good.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            }
            socket.close();
            writer.interrupt();
        }
    }

    @Test
    void tooManyConnectionsFromOneClient() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("max_connections_per_client: 2").start();
             SmtpTestClient one = fixture.connect("plain");
             SmtpTestClient two = fixture.connect("plain");
             SmtpTestClient three = new SmtpTestClient()) {
            var address = fixture.address("plain");
            assertEquals("421 4.7.0 Too many connections from your address, try again later",
                    three.connect(address.getHostString(), address.getPort()).toString());
            assertEquals(250, one.command("NOOP").code());
            assertTrue(fixture.metrics().contains(
                    "smtp_proxy_connections_rejected_total{listener=\"plain\",reason=\"too_many_per_client\"} 1.0"));
        }
        try (ProxyFixture fixture = ProxyFixture.builder().limit("max_connections: 1").start();
             SmtpTestClient one = fixture.connect("plain");
             SmtpTestClient two = new SmtpTestClient()) {
            var address = fixture.address("starttls");
            assertEquals(421, two.connect(address.getHostString(), address.getPort()).code(), "the limit spans listeners");
        }
    }

    @Test
    void authBeforeEhloIsABadSequence() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().usersFile(USERS).plainListener("auth:")
                .plainListener("  allow_plaintext: true").plainListener("  users_file: users").start();
             SmtpTestClient client = fixture.connect("plain")) {
            assertEquals(503, client.command("AUTH PLAIN " + plain("scanner", "scan-pass")).code());
            assertEquals(250, client.ehlo("printer.example").code());
        }
    }

    @Test
    void halfClosedClientIsClosedCleanly() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             Socket socket = new Socket(fixture.address("plain").getHostString(), fixture.address("plain").getPort())) {
            socket.setSoTimeout(5000);
            socket.getOutputStream().write("EHLO half.example\r\nMAIL FROM:<a@b.example>\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.shutdownOutput();
            byte[] buffer = new byte[4096];
            while (socket.getInputStream().read(buffer) >= 0) {
                // replies, then the close: a timeout here would fail the test
            }
            try (SmtpTestClient client = fixture.connect("plain")) {
                assertEquals(250, client.ehlo("next.example").code());
            }
        }
    }

    @Test
    void tlsClientThatNeverSendsItsHelloIsTimedOut() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("idle_timeout: 1s").start();
             Socket socket = new Socket(fixture.address("smtps").getHostString(), fixture.address("smtps").getPort())) {
            socket.setSoTimeout(5000);
            long started = System.nanoTime();
            assertEquals(-1, socket.getInputStream().read(), "closed, not left hanging");
            assertTrue(System.nanoTime() - started < 4_000_000_000L);
        }
    }

    @Test
    void nulBytesAndAbsurdParametersGetCleanReplies() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start(); SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(500, client.command("MAIL FROM:<a\0b@c.example>").code());
            assertEquals(552, client.command("MAIL FROM:<a@b.example> SIZE=99999999999999999999").code(), "a size, if too big");
            assertEquals(501, client.command("MAIL FROM:<a@b.example> SIZE=12x").code());
            assertEquals(501, client.command("MAIL FROM:").code());
            assertEquals(501, client.command("MAIL FROM:<unterminated").code());
            assertEquals(503, client.command("RCPT TO:<b@c.example>").code(), "no transaction yet");
            assertEquals(250, client.command("MAIL FROM:<>").code(), "the null sender (bounces) is allowed");
            assertEquals(501, client.command("RCPT TO:<>").code());
        }
    }
}

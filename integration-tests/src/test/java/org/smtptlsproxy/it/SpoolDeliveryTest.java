package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Listeners with {@code delivery: spool} (issue 13): a sender that never retries, like a scanner,
 * gets its 250 while the upstream is down, and the message arrives, byte for byte, once the
 * upstream is back. The rest of the proxy (the other listeners) still relays cut-through.
 */
@Timeout(120)
class SpoolDeliveryTest {

    static final String BODY = "From: scanner@legacy.example\r\nTo: b@contoso.example\r\nSubject: scan\r\n\r\n"
            + "Page 1.\r\n.a line that starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n";

    @TempDir
    Path spool;

    private ProxyFixture.Builder spoolingProxy(int upstreamPort) {
        return spoolingProxy(upstreamPort, "1s");
    }

    private ProxyFixture.Builder spoolingProxy(int upstreamPort, String retry) {
        return ProxyFixture.builder()
                .noUpstream(upstreamPort)
                .plainListener("delivery: spool")
                .yaml("spool:")
                .yaml("  directory: " + spool)
                .yaml("  retry:")
                .yaml("    first: " + retry)
                .yaml("    max: " + retry);
    }

    private static FakeUpstream upstreamOn(int port, java.util.function.Consumer<FakeUpstream.Builder> settings)
            throws Exception {
        FakeUpstream.Builder builder = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).bind("127.0.0.1", port);
        settings.accept(builder);
        return builder.build().start();
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private long queued() throws Exception {
        Path queue = spool.resolve("queue");
        if (!Files.isDirectory(queue)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(queue)) {
            return files.filter(file -> file.toString().endsWith(".msg")).count();
        }
    }

    private void awaitEmptySpool() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (queued() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(0, queued(), "the spool is empty once everything is delivered");
    }

    @Test
    void aSenderThatNeverRetriesGets250WhileTheUpstreamIsDownAndTheMessageArrivesWhenItIsBack() throws Exception {
        int port = freePort();
        try (ProxyFixture fixture = spoolingProxy(port).start()) {
            SmtpTestClient.Reply reply;
            try (SmtpTestClient scanner = fixture.connect("plain")) {
                scanner.ehlo("scanner.example");
                reply = scanner.sendMessage("scanner@legacy.example", List.of("b@contoso.example", "c@contoso.example"),
                        BODY.getBytes(StandardCharsets.US_ASCII));
            }
            assertEquals(250, reply.code(), reply.toString());
            assertTrue(reply.text().startsWith("2.0.0 Ok: queued as "), reply.toString());
            assertEquals(1, queued());
            Thread.sleep(600); // a few attempts fail against the closed port
            assertEquals(1, queued(), "a failed attempt keeps the message");
            String health = get(fixture, "/health");
            assertTrue(health.startsWith("ok\nspool: 1 message(s)"), health);
            assertEquals("ready\n", get(fixture, "/ready"), "the listener still accepts: ready while the upstream is down");

            try (FakeUpstream upstream = upstreamOn(port, b -> { })) {
                assertTrue(upstream.awaitMessages(1, Duration.ofSeconds(20)), "delivered once the upstream is back");
                ReceivedMessage received = upstream.messages().get(0);
                assertEquals("scanner@legacy.example", received.from());
                assertEquals(List.of("b@contoso.example", "c@contoso.example"), received.recipients());
                assertTrue(List.of("TLSv1.2", "TLSv1.3").contains(received.tlsProtocol()), received.tlsProtocol());
                assertTrue(received.content().startsWith("Received: from scanner.example ([127.0.0.1])"), received.content());
                assertTrue(received.content().endsWith(BODY), "content byte for byte, dots included:\n" + received.content());
                awaitEmptySpool();
                Thread.sleep(500);
                assertEquals(1, upstream.messages().size(), "delivered exactly once");
            }
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_spool_delivery_attempts_total{outcome=\"delivered\""), metrics);
            assertTrue(metrics.contains("smtp_proxy_spool_messages 0.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_spool_limit_messages 10000.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_spool_limit_size_bytes 1.073741824E9"), metrics);
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"spooled\"} 1.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"relayed\"} 0.0"),
                    "a spooled message is not counted as relayed by the upstream: " + metrics);
        }
    }

    @Test
    void aMessageOfSeveralReadChunksArrivesByteForByteWithItsDotLines() throws Exception {
        // The spool reads content in 64 KiB chunks and dot-stuffs each again: lines that start
        // with a dot fall on every side of the chunk boundaries here (lines of 1 to 97 octets).
        StringBuilder body = new StringBuilder("From: scanner@legacy.example\r\nSubject: big scan\r\n\r\n");
        for (int line = 0; body.length() < 300_000; line++) {
            body.append(line % 3 == 0 ? "." : "").append("x".repeat(line % 97)).append("\r\n");
        }
        int port = freePort();
        try (FakeUpstream upstream = upstreamOn(port, b -> { });
                ProxyFixture fixture = spoolingProxy(port).start();
                SmtpTestClient scanner = fixture.connect("plain")) {
            scanner.ehlo("scanner.example");
            SmtpTestClient.Reply reply = scanner.sendMessage("scanner@legacy.example", List.of("b@contoso.example"),
                    body.toString().getBytes(StandardCharsets.US_ASCII));
            assertEquals(250, reply.code(), reply.toString());
            assertTrue(upstream.awaitMessages(1, Duration.ofSeconds(20)));
            String received = upstream.messages().get(0).content();
            assertTrue(received.endsWith(body.toString()), "content byte for byte across chunks ("
                    + received.length() + " octets received for " + body.length() + " sent)");
            awaitEmptySpool();
        }
    }

    @Test
    void aRecipientTheUpstreamDefersIsRetriedAloneAndARefusedOneIsBouncedToTheSender() throws Exception {
        int port = freePort();
        try (ProxyFixture fixture = spoolingProxy(port).start()) {
            try (FakeUpstream first = upstreamOn(port, b -> b
                    .reply("RCPT TO:<LATER@", "451 4.2.1 Mailbox busy, try again later")
                    .reply("RCPT TO:<GONE@", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found"))) {
                try (SmtpTestClient app = fixture.connect("plain")) {
                    app.ehlo("app.example");
                    SmtpTestClient.Reply reply = app.sendMessage("app@legacy.example",
                            List.of("ok@contoso.example", "later@contoso.example", "gone@contoso.example"),
                            BODY.getBytes(StandardCharsets.US_ASCII));
                    assertEquals(250, reply.code(), reply.toString());
                }
                assertTrue(first.awaitMessages(1, Duration.ofSeconds(20)), first.messages().toString());
                assertEquals(List.of("ok@contoso.example"), first.messages().get(0).recipients());
                Thread.sleep(1500); // later@ is retried (and deferred again) meanwhile
                assertEquals(1, first.messages().size(), "ok@ got it once; gone@ is not bounced while later@ is pending");
                assertEquals(1, queued(), "later@ is still pending");
            }
            try (FakeUpstream second = upstreamOn(port, b -> { })) {
                // later@ now, then (the message being done with) one notification about gone@.
                assertTrue(second.awaitMessages(2, Duration.ofSeconds(20)), second.messages().toString());
                assertEquals(List.of("later@contoso.example"), second.messages().get(0).recipients(),
                        "only the deferred recipient is tried again");
                ReceivedMessage bounce = second.messages().get(1);
                assertEquals("", bounce.from(), "a notification has the null sender");
                assertEquals(List.of("app@legacy.example"), bounce.recipients());
                assertTrue(bounce.content().contains("report-type=delivery-status"), bounce.content());
                assertTrue(bounce.content().contains("Final-Recipient: rfc822; gone@contoso.example"), bounce.content());
                assertTrue(bounce.content().contains("Status: 5.1.10"), bounce.content());
                assertFalse(bounce.content().contains("Final-Recipient: rfc822; later@"), bounce.content());
                awaitEmptySpool();
                Thread.sleep(300);
                assertEquals(2, second.messages().size());
            }
        }
    }

    @Test
    void aFullSpoolAnswers452AndCutThroughListenersAreUnaffected() throws Exception {
        int port = freePort();
        try (ProxyFixture fixture = spoolingProxy(port).yaml("  max_messages: 1").start()) {
            try (SmtpTestClient scanner = fixture.connect("plain")) {
                scanner.ehlo("scanner.example");
                assertEquals(250, scanner.sendMessage("scanner@legacy.example", List.of("b@contoso.example"),
                        BODY.getBytes(StandardCharsets.US_ASCII)).code());
                SmtpTestClient.Reply full = scanner.command("MAIL FROM:<scanner@legacy.example>");
                assertEquals(452, full.code(), full.toString());
                assertTrue(full.text().startsWith("4.3.1 Insufficient system storage"), full.toString());
            }
            try (SmtpTestClient mta = fixture.connect("starttls")) {
                mta.ehlo("mta.example");
                mta.startTls(fixture.trust("TLSv1.2"));
                mta.ehlo("mta.example");
                SmtpTestClient.Reply cutThrough = mta.command("MAIL FROM:<mta@legacy.example>");
                assertEquals(451, cutThrough.code(), "cut-through still says the upstream is down: " + cutThrough);
            }
            assertEquals(1, queued());
        }
    }

    @Test
    void whatWasQueuedBeforeARestartIsDeliveredAfterIt() throws Exception {
        int port = freePort();
        try (ProxyFixture fixture = spoolingProxy(port).start();
             SmtpTestClient scanner = fixture.connect("plain")) {
            scanner.ehlo("scanner.example");
            assertEquals(250, scanner.sendMessage("scanner@legacy.example", List.of("b@contoso.example"),
                    BODY.getBytes(StandardCharsets.US_ASCII)).code());
        }
        assertEquals(1, queued(), "kept on disk across the stop");
        try (FakeUpstream upstream = upstreamOn(port, b -> { });
             ProxyFixture restarted = spoolingProxy(port).start()) {
            assertTrue(upstream.awaitMessages(1, Duration.ofSeconds(20)));
            assertTrue(upstream.messages().get(0).content().endsWith(BODY));
            awaitEmptySpool();
        }
    }

    @Test
    void aMessageOverSpoolMaxSizeGets452AndLeavesNothingBehind() throws Exception {
        try (ProxyFixture fixture = spoolingProxy(freePort()).yaml("  max_size: 1MB").start();
             SmtpTestClient scanner = fixture.connect("plain")) {
            scanner.ehlo("scanner.example");
            String big = BODY + ("x".repeat(998) + "\r\n").repeat(1100); // 1.1 MB
            scanner.command("MAIL FROM:<scanner@legacy.example>");
            scanner.command("RCPT TO:<b@contoso.example>");
            assertEquals(354, scanner.command("DATA").code());
            scanner.writeDotStuffed(big.getBytes(StandardCharsets.US_ASCII));
            SmtpTestClient.Reply reply = scanner.readReply();
            assertEquals(452, reply.code(), reply.toString());
            assertTrue(reply.text().startsWith("4.3.1 Insufficient system storage"), reply.toString());
            assertEquals(0, queued());
            try (Stream<Path> temp = Files.list(spool.resolve("tmp"))) {
                assertEquals(0, temp.count(), "the refused message's temp file is gone");
            }
            // The session goes on: a message that fits is still taken.
            assertEquals(250, scanner.sendMessage("scanner@legacy.example", List.of("b@contoso.example"),
                    BODY.getBytes(StandardCharsets.US_ASCII)).code());
        }
    }

    @Test
    void theQueueCommandListsShowsDeletesAndRetriesOnTheLiveSpool() throws Exception {
        int port = freePort();
        // Retries an hour apart: only the operator's retry sends before that.
        try (ProxyFixture fixture = spoolingProxy(port, "1h").start()) {
            for (String recipient : List.of("keep@contoso.example", "drop@contoso.example")) {
                try (SmtpTestClient scanner = fixture.connect("plain")) {
                    scanner.ehlo("scanner.example");
                    assertEquals(250, scanner.sendMessage("scanner@legacy.example", List.of(recipient),
                            BODY.getBytes(StandardCharsets.US_ASCII)).code());
                }
            }
            String list = queue("list");
            assertTrue(list.contains("2 messages"), list);
            String drop = list.lines().filter(line -> !line.startsWith("ID") && line.contains("scanner@legacy.example"))
                    .map(line -> line.split(" ")[0]).filter(id -> queue("show", id).contains("<drop@contoso.example>"))
                    .findFirst().orElseThrow(() -> new AssertionError(list));
            String show = queue("show", drop);
            assertTrue(show.contains("recipient:    <drop@contoso.example> pending"), show);
            assertTrue(show.contains("last reply:   451 4.4.1"), "the failed first attempt: " + show);

            queue("delete", drop);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (queued() > 1 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(1, queued(), "the running proxy applied the delete");

            try (FakeUpstream upstream = upstreamOn(port, b -> { })) {
                Thread.sleep(1500);
                assertEquals(0, upstream.messages().size(), "nothing before the next attempt, an hour away");
                queue("retry", "--all");
                assertTrue(upstream.awaitMessages(1, Duration.ofSeconds(10)), "the operator's retry sent it");
                assertEquals(List.of("keep@contoso.example"), upstream.messages().get(0).recipients());
                awaitEmptySpool();
                Thread.sleep(300);
                assertEquals(1, upstream.messages().size(), "the deleted message is never sent");
            }
            assertTrue(Files.list(spool.resolve("deleted")).findAny().isPresent(), "kept in deleted/ for the operator");
        }
    }

    /** {@code smtp-tls-proxy queue ...} as an operator runs it, next to the running proxy. */
    private String queue(String... args) {
        List<String> command = new java.util.ArrayList<>(ProxyJar.command("queue"));
        command.addAll(List.of(args));
        command.addAll(List.of("--directory", spool.toString()));
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), output);
            assertEquals(0, process.exitValue(), String.join(" ", args) + ":\n" + output);
            return output;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String get(ProxyFixture fixture, String path) throws Exception {
        HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + fixture.proxy.metricsPort() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        return response.body();
    }
}

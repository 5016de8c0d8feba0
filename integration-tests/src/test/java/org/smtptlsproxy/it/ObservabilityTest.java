package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** What operators see: metrics scraped over HTTP, health and readiness, the client report, the log. */
@Timeout(60)
class ObservabilityTest {

    private final HttpClient http = HttpClient.newHttpClient();
    @RegisterExtension
    final TransactionLogCapture log = new TransactionLogCapture();

    private HttpResponse<String> get(ProxyFixture fixture, String path, String accept) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + fixture.proxy.metricsPort() + path));
        if (accept != null) {
            request.header("Accept", accept);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void sessionsOfEveryKindShowInMetricsClientsAndLog() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().plainListener("allowed_clients: [10.0.0.0/8]").start()) {
            try (SmtpTestClient refused = new SmtpTestClient()) {
                var plain = fixture.address("plain");
                assertEquals(554, refused.connect(plain.getHostString(), plain.getPort()).code());
            }
            try (SmtpTestClient client = fixture.connect("starttls")) { // plaintext on a starttls listener
                client.ehlo("printer.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            }
            int index = 1;
            for (String protocol : List.of("TLSv1", "TLSv1.2")) {
                try (SmtpTestClient client = fixture.connect("starttls")) {
                    client.ehlo("mta.example");
                    client.startTls(fixture.trust(protocol));
                    client.ehlo("mta.example");
                    RelayTest.assertRelayed(fixture, RelayTest.send(client), index++);
                    client.quit();
                }
            }
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("scanner.example");
                client.quit(); // a session without a transaction
            }
            var smtps = fixture.address("smtps");
            try (Socket garbage = new Socket(smtps.getHostString(), smtps.getPort())) {
                garbage.getOutputStream().write("EHLO this is not a ClientHello\r\n".getBytes());
                garbage.getOutputStream().flush();
                garbage.setSoTimeout(5000);
                assertTrue(closedByPeer(garbage), "closed after a failed handshake");
            }

            HttpResponse<String> scrape = get(fixture, "/metrics", null);
            assertEquals(200, scrape.statusCode());
            assertTrue(scrape.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
            String metrics = scrape.body();
            for (String expected : List.of(
                    "smtp_proxy_connections_total{listener=\"starttls\"} 4.0",
                    "smtp_proxy_connections_rejected_total{listener=\"plain\",reason=\"not_allowed\"} 1.0",
                    "smtp_proxy_connections_active{listener=\"starttls\"} 0.0",
                    "smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1\",side=\"inbound\"} 1.0",
                    "smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1.2\",side=\"inbound\"} 1.0",
                    "smtp_proxy_tls_handshakes_total{outcome=\"failure\",protocol=\"unknown\",side=\"inbound\"} 1.0",
                    "smtp_proxy_tls_handshake_failures_total{reason=\"not_tls\",side=\"inbound\"} 1.0",
                    "smtp_proxy_messages_total{outcome=\"relayed\"} 3.0",
                    "smtp_proxy_messages_total{outcome=\"deferred\"} 0.0",
                    "smtp_proxy_message_bytes_count 3",
                    "smtp_proxy_relay_seconds_count 3")) {
                assertTrue(metrics.contains(expected), expected + " in\n" + metrics);
            }
            // Pooled upstream sessions may serve several of the three messages: 1 to 3 set-ups,
            // each with one verified outbound handshake.
            double setups = value(metrics, "smtp_proxy_upstream_sessions_total{outcome=\"ok\"}");
            assertTrue(setups >= 1 && setups <= 3, metrics);
            assertEquals(setups, value(metrics, "smtp_proxy_tls_handshake_seconds_count{side=\"outbound\"}"));
            assertEquals(setups, value(metrics, "smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1.3\",side=\"outbound\"}"));
            assertTrue(metrics.contains("smtp_proxy_relay_seconds_bucket{le="), "relay latency is a histogram");
            assertTrue(metrics.contains("netty_eventexecutor_tasks_pending"), "event-loop pending tasks");
            assertTrue(metrics.contains("jvm_memory_used_bytes"), "JVM metrics");
            assertTrue(!metrics.contains("127.0.0.1"), "no client address in any label");

            HttpResponse<String> openMetrics = get(fixture, "/metrics", "application/openmetrics-text; version=1.0.0");
            assertTrue(openMetrics.headers().firstValue("Content-Type").orElse("").startsWith("application/openmetrics-text"));
            assertTrue(openMetrics.body().trim().endsWith("# EOF"));

            assertEquals(200, get(fixture, "/health", null).statusCode());
            assertEquals(200, get(fixture, "/ready", null).statusCode());
            assertEquals(404, get(fixture, "/metricsx", null).statusCode());
            assertEquals(404, get(fixture, "/", null).statusCode());

            String clients = get(fixture, "/clients", null).body();
            assertTrue(clients.contains("\"address\":\"127.0.0.1\""), clients);
            assertTrue(clients.contains("\"relayed\":3"), clients);
            assertTrue(clients.contains("\"tls_protocol\":\""), clients);

            List<String> lines = log.lines();
            assertTrue(lines.stream().anyMatch(l -> l.contains("end=refused:not_allowed")), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.contains("in_tls=none") && l.contains("end=quit") && l.contains("transactions=0")),
                    lines.toString());
            String tls10 = lines.stream().filter(l -> l.contains("in_tls=TLSv1 ")).findFirst().orElseThrow();
            for (String key : List.of("session=", "client=127.0.0.1:", "listener=starttls", "in_cipher=TLS_", "out_tls=TLSv1.",
                    "out_cipher=TLS_", "from=<a@legacy.example>", "rcpts=1", "accepted=1", "size=", "reply=\"250 2.6.0 <",
                    "ms=", "outcome=relayed")) {
                assertTrue(tls10.contains(key), key + " in " + tls10);
            }
        }
    }

    @Test
    void failedUpstreamHandshakeAndRejectedMessageAreCountedAndLogged() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder()
                .upstreamIdentity(ProxyFixture.PKI.issue("other.example", "other.example")).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(451, client.command("MAIL FROM:<a@legacy.example>").code());
            String metrics = get(fixture, "/metrics", null).body();
            assertTrue(metrics.contains("smtp_proxy_upstream_sessions_total{outcome=\"certificate_invalid\"} 1.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_tls_handshakes_total{outcome=\"failure\",protocol=\"unknown\",side=\"outbound\"} 1.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_messages_total{outcome=\"deferred\"} 1.0"), metrics);
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("outcome=deferred") && l.contains("rcpts=0")
                    && l.contains("reply=\"451 4.7.5 upstream")), log.lines().toString());
        }
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.DATA_END_5XX).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender.example");
            assertEquals(554, RelayTest.send(client).code());
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("outcome=rejected") && l.contains("reply=\"554 5.6.0")),
                    log.lines().toString());
        }
    }

    @Test
    void drainingTurnsReadinessOffAndLetsTheTransactionInFlightFinish() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start();
             SmtpTestClient busy = fixture.connect("plain");
             SmtpTestClient idle = fixture.connect("plain")) {
            busy.ehlo("busy.example");
            idle.ehlo("idle.example");
            assertEquals(250, busy.command("MAIL FROM:<a@legacy.example>").code());
            assertEquals(250, busy.command("RCPT TO:<b@contoso.example>").code());
            assertEquals(200, get(fixture, "/ready", null).statusCode());

            CompletableFuture<Integer> drained = CompletableFuture.supplyAsync(() -> {
                try {
                    return fixture.proxy.runtime().drain(Duration.ofSeconds(10));
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (get(fixture, "/ready", null).statusCode() != 503 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(503, get(fixture, "/ready", null).statusCode(), "not ready while draining");
            assertEquals(200, get(fixture, "/health", null).statusCode(), "still alive");

            assertEquals("421 4.3.2 Shutting down, try again later", idle.command("NOOP").toString());
            assertEquals(354, busy.command("DATA").code(), "the transaction in flight goes on");
            busy.writeDotStuffed(RelayTest.BODY.getBytes());
            assertEquals(250, busy.readReply().code());
            assertEquals(421, busy.command("MAIL FROM:<a@legacy.example>").code(), "but no new one");
            assertEquals(0, drained.get(), "every session ended before the deadline");
        }
    }

    private static double value(String metrics, String series) {
        return metrics.lines().filter(l -> l.startsWith(series + " ")).mapToDouble(l -> Double.parseDouble(l.substring(series.length() + 1)))
                .findFirst().orElseThrow(() -> new AssertionError(series + " missing"));
    }

    /** Reads until the peer closes; false if it is still open after the socket's timeout. */
    private static boolean closedByPeer(Socket socket) {
        try {
            byte[] buffer = new byte[4096];
            while (socket.getInputStream().read(buffer) >= 0) {
                // a TLS alert may come first
            }
            return true;
        } catch (java.net.SocketTimeoutException stillOpen) {
            return false;
        } catch (java.io.IOException reset) {
            return true;
        }
    }
}

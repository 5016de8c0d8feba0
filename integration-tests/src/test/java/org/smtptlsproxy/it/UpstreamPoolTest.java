package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** Warm upstream sessions are reused across clients, probed first, and never leak a failure. */
@Timeout(60)
class UpstreamPoolTest {

    private static void sendOne(ProxyFixture fixture, FakeUpstream upstream, int index) throws Exception {
        try (SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("sender" + index + ".example");
            SmtpTestClient.Reply reply = RelayTest.send(client);
            assertEquals(250, reply.code(), reply.toString());
            assertTrue(upstream.awaitMessages(index + 1, Duration.ofSeconds(5)));
            client.quit();
        }
    }

    @Test
    void sequentialClientsShareWarmUpstreamSessions() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            int clients = 12;
            for (int i = 0; i < clients; i++) {
                sendOne(fixture, fixture.upstream, i);
                Thread.sleep(50); // the session goes back to the pool when the client's connection closes
            }
            // Pools are per event loop and clients are spread over the loops: at most one set-up each.
            int loops = fixture.proxy.runtime().eventLoops();
            int connections = fixture.upstream.connections();
            assertTrue(connections <= loops, connections + " upstream connections for " + clients + " clients on " + loops + " loops");
            long rsets = fixture.upstream.commandsSeen().stream().filter(c -> c.equals("[tls] RSET")).count();
            assertEquals(clients - connections, rsets, "every reuse starts with an RSET probe");
            assertTrue(fixture.metrics().contains("smtp_proxy_upstream_sessions_total{outcome=\"ok\"} " + connections + ".0"));
        }
    }

    /**
     * {@code senders} threads, each sending {@code perSender} messages one connection at a time
     * (connect, EHLO, one message, QUIT), as legacy senders do; returns how many upstream
     * connections existed once {@code rampUp} messages had arrived.
     */
    private static int steadyLoad(ProxyFixture fixture, int senders, int perSender, int rampUp) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(senders);
        try {
            List<Future<?>> done = new ArrayList<>();
            AtomicInteger next = new AtomicInteger();
            for (int s = 0; s < senders; s++) {
                done.add(pool.submit(() -> {
                    for (int i = 0; i < perSender; i++) {
                        try (SmtpTestClient client = fixture.connect("plain")) {
                            client.ehlo("sender" + next.incrementAndGet() + ".example");
                            SmtpTestClient.Reply reply = RelayTest.send(client);
                            assertEquals(250, reply.code(), reply.toString());
                            client.quit();
                        }
                    }
                    return null;
                }));
            }
            assertTrue(fixture.upstream.awaitMessages(rampUp, Duration.ofSeconds(60)), "ramp-up");
            int afterRampUp = fixture.upstream.connections();
            for (Future<?> f : done) {
                f.get(90, TimeUnit.SECONDS);
            }
            assertTrue(fixture.upstream.awaitMessages(senders * perSender, Duration.ofSeconds(10)));
            return afterRampUp;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void fiftyConcurrentSendersAtASteadyLoadNeedAFreshUpstreamSessionForFewerThanOneMessageInFifty() throws Exception {
        // The default pool: what an operator gets without tuning.
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            int senders = 50;
            int perSender = 40;
            // The pool grows to each I/O thread's own peak over the first twenty or so messages a
            // sender: only what comes after that is the steady state the default is sized for.
            int rampUp = 1000;
            int afterRampUp = steadyLoad(fixture, senders, perSender, rampUp);
            int steadyMessages = senders * perSender - rampUp;
            int fresh = fixture.upstream.connections() - afterRampUp;
            assertTrue(fresh * 50 < steadyMessages, fresh + " new upstream sessions for " + steadyMessages
                    + " messages at a steady load (" + afterRampUp + " during the ramp-up)");
            // What stays open once the senders are gone is the idle pool, within its default cap.
            assertTrue(fixture.upstream.openConnections() <= 100, fixture.upstream.openConnections() + " left open");
            assertEquals(senders * perSender, fixture.upstream.messages().size(), "each message delivered once");
        }
    }

    @Test
    void whenTheLoadGoesAwayTheIdleSessionsCloseAndTheUpstreamSeesQuit() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().upstream("pool:").upstream("  idle_timeout: 1s").start()) {
            int senders = 10;
            steadyLoad(fixture, senders, 5, 10);
            int kept = fixture.upstream.openConnections();
            assertTrue(kept >= 2, "the load left warm sessions behind: " + kept);
            // Bounded wait: the idle timeout plus the QUIT round trip, polled.
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (fixture.upstream.openConnections() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(0, fixture.upstream.openConnections(), "idle upstream sessions closed after the load stopped");
            long quits = fixture.upstream.commandsSeen().stream().filter(c -> c.equals("[tls] QUIT")).count();
            assertEquals(fixture.upstream.connections(), quits, "each one said goodbye with QUIT");
        }
    }

    @Test
    void maxIdleBoundsTheIdleSessionsOfAllLoopsTogether() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().upstream("pool:").upstream("  max_idle: 3").start()) {
            steadyLoad(fixture, 10, 3, 10);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (fixture.upstream.openConnections() > 3 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(3, fixture.upstream.openConnections(), "three kept warm, the others closed after use");
        }
    }

    @Test
    void maxIdleZeroDisablesPooling() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().upstream("pool:").upstream("  max_idle: 0").start()) {
            for (int i = 0; i < 3; i++) {
                sendOne(fixture, fixture.upstream, i);
            }
            assertEquals(3, fixture.upstream.connections());
        }
    }

    @Test
    void newUpstreamConnectionsResumeTheirTlsSession() throws Exception {
        for (String protocol : List.of("TLSv1.2", "TLSv1.3")) {
            // No pooling: every message needs a new connection, and all but the first resume.
            try (ProxyFixture fixture = ProxyFixture.builder().upstreamProtocols(protocol)
                    .upstream("pool:").upstream("  max_idle: 0").start()) {
                for (int i = 0; i < 3; i++) {
                    sendOne(fixture, fixture.upstream, i);
                }
                assertEquals(3, fixture.upstream.connections());
                String metrics = fixture.metrics();
                assertTrue(metrics.contains("smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"" + protocol
                        + "\",side=\"outbound\"} 3.0"), metrics);
                assertTrue(metrics.contains("smtp_proxy_tls_sessions_resumed_total{side=\"outbound\"} 2.0"),
                        protocol + ": " + metrics.lines().filter(l -> l.contains("resumed")).toList());
            }
        }
    }

    @Test
    void idleSessionsExpire() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().upstream("pool:").upstream("  idle_timeout: 500ms").start()) {
            int loops = fixture.proxy.runtime().eventLoops();
            for (int i = 0; i < loops; i++) {
                sendOne(fixture, fixture.upstream, i);
            }
            Thread.sleep(1200);
            for (int i = loops; i < 2 * loops; i++) {
                sendOne(fixture, fixture.upstream, i);
            }
            assertEquals(0, fixture.upstream.commandsSeen().stream().filter(c -> c.equals("[tls] RSET")).count(),
                    "nothing was reused after the idle timeout");
        }
    }

    @Test
    void aPooledSessionThatDiedIsNeverHandedToAClient() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            int port = fixture.upstream.port();
            sendOne(fixture, fixture.upstream, 0);
            Thread.sleep(100);
            fixture.upstream.close(); // the pooled session's connection dies with it
            try (FakeUpstream restarted = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST)
                    .bind("127.0.0.1", port).build().start()) {
                sendOne(fixture, restarted, 0);
                assertEquals(1, restarted.connections(), "a fresh session, transparently");
            }
        }
    }

    @Test
    void aPooledSessionTheUpstreamTimedOutIsReplacedWithoutTheClientNoticing() throws Exception {
        // Every RSET gets 421 and a closed connection, so every reuse fails its probe, with the
        // client's pipelined MAIL, RCPT and DATA already sent behind it.
        try (ProxyFixture fixture = ProxyFixture.builder().faults(Fault.RSET_421).start()) {
            int loops = fixture.proxy.runtime().eventLoops();
            int clients = 0;
            long rsets = 0;
            // Clients are spread over the loops: go on until one met a pooled session.
            while (rsets == 0 && clients < 4 * loops + 2) {
                try (SmtpTestClient client = fixture.connect("plain")) {
                    client.ehlo("sender" + clients + ".example");
                    client.writeRaw("MAIL FROM:<a@legacy.example>\r\nRCPT TO:<b@contoso.example>\r\nDATA\r\n");
                    assertEquals("250 2.1.0 Sender OK", client.readReply().toString());
                    assertEquals("250 2.1.5 Recipient OK", client.readReply().toString());
                    assertEquals(354, client.readReply().code());
                    client.writeDotStuffed(("Subject: " + clients + "\r\n\r\nhello\r\n").getBytes(StandardCharsets.US_ASCII));
                    assertEquals(250, client.readReply().code());
                    client.quit();
                }
                clients++;
                assertTrue(fixture.upstream.awaitMessages(clients, Duration.ofSeconds(5)));
                Thread.sleep(50); // the session goes back to the pool when the client's connection closes
                rsets = fixture.upstream.commandsSeen().stream().filter(c -> c.equals("[tls] RSET")).count();
            }
            assertTrue(rsets > 0, "no client met a pooled session");
            assertEquals(clients, fixture.upstream.messages().size(), "each message delivered exactly once");
            assertEquals(clients, fixture.upstream.connections(), "each failed probe replaced by a new connection");
        }
    }
}

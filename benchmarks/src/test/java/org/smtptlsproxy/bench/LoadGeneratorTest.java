package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;

/** The load generator's modes and the meters the benchmark reports, against a real sink. */
@Timeout(120)
class LoadGeneratorTest {

    private static final TestPki PKI = TestPki.create("load CA", KeyType.EC);

    private static FakeUpstream sink() throws Exception {
        return FakeUpstream.builder().identity(PKI.issue("localhost", "localhost", "127.0.0.1")).maxStoredBytes(0).build().start();
    }

    @Test
    void handshakeOnlyConnectionsCompleteStartTlsAndSendNoMail() throws Exception {
        try (FakeUpstream sink = sink()) {
            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(new InetSocketAddress("127.0.0.1", sink.port()),
                    5, 40, 0, 0, "TLSv1.2", PKI.caCertificate(), Duration.ofSeconds(60), "handshakes"));
            assertEquals(40, result.accepted(), result.toString());
            assertEquals(0, result.failed());
            assertEquals(40, result.latencies().length);
            assertEquals(40, sink.connections());
            assertTrue(sink.messages().isEmpty(), "handshake-only sessions must not send mail");
        }
    }

    @Test
    void pipelinedMessagesOverStartTlsArriveDistinctAndWhole() throws Exception {
        try (FakeUpstream sink = sink()) {
            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(new InetSocketAddress("127.0.0.1", sink.port()),
                    4, 60, 4096, 5, "TLSv1.2", PKI.caCertificate(), Duration.ofSeconds(60), "pipelined"));
            assertEquals(60, result.accepted(), result.toString());
            assertTrue(sink.awaitMessages(60, Duration.ofSeconds(10)));
            assertEquals(60, sink.messages().stream().map(m -> m.sha256()).distinct().count());
            assertEquals(60, sink.messages().stream().map(m -> m.checksum()).distinct().count());
            assertEquals(12, sink.connections(), "five messages a connection");
            assertTrue(result.bytes() >= 60L * 4000, "about 4 KiB each: " + result.bytes());
        }
    }

    @Test
    void fullHandshakesUnlessResumptionIsAskedFor() throws Exception {
        try (FakeUpstream sink = sink()) {
            InetSocketAddress target = new InetSocketAddress("127.0.0.1", sink.port());
            LoadGenerator.Result full = LoadGenerator.run(new LoadGenerator.Plan(target, 2, 20, 1024, 1, "TLSv1.2",
                    PKI.caCertificate(), Duration.ofSeconds(60), "full", 0, false, false));
            assertEquals(20, full.accepted(), full.toString());
            assertEquals(20, full.handshakes());
            assertEquals(0, full.resumed(), "no session is kept, so none is offered");
            LoadGenerator.Result resuming = LoadGenerator.run(new LoadGenerator.Plan(target, 2, 20, 1024, 1, "TLSv1.2",
                    PKI.caCertificate(), Duration.ofSeconds(60), "resume", 0, false, true));
            assertEquals(20, resuming.accepted(), resuming.toString());
            assertEquals(20, resuming.handshakes());
            // The two first connections start together with nothing to offer; after them, every one resumes.
            assertTrue(resuming.resumed() >= 18, resuming.resumed() + " of 20 resumed");
        }
    }

    @Test
    void implicitTlsSendersGetTheBannerInsideTls() throws Exception {
        try (FakeUpstream sink = FakeUpstream.builder().identity(PKI.issue("localhost", "localhost", "127.0.0.1"))
                .implicitTls(true).maxStoredBytes(0).build().start()) {
            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(new InetSocketAddress("127.0.0.1", sink.port()),
                    3, 30, 1024, 1, "TLSv1.3", PKI.caCertificate(), Duration.ofSeconds(60), "implicit", 0, true, false));
            assertEquals(30, result.accepted(), result.toString());
            assertEquals(30, result.handshakes());
            assertTrue(sink.awaitMessages(30, Duration.ofSeconds(10)));
            assertTrue(sink.commandsSeen().stream().noneMatch(c -> c.contains("STARTTLS")), "no STARTTLS on an implicit-TLS connection");
            assertTrue(sink.commandsSeen().stream().filter(c -> c.startsWith("MAIL")).count() == 0,
                    "every command arrived inside TLS");
        }
    }

    @Test
    void pacedRunKeepsToItsScheduleAndLosesNothing() throws Exception {
        try (FakeUpstream sink = sink()) {
            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(new InetSocketAddress("127.0.0.1", sink.port()),
                    3, 30, 1024, 10, "TLSv1.2", PKI.caCertificate(), Duration.ofSeconds(60), "paced", 100));
            assertEquals(30, result.accepted(), result.toString());
            // Message 29 may not start before 290 ms: an open-loop schedule, not as fast as possible.
            assertTrue(result.elapsedNanos() >= Duration.ofMillis(290).toNanos(), "elapsed " + result.elapsedNanos());
        }
    }

    @Test
    void refusedConnectionsCountAsFailedNotAccepted() throws Exception {
        int closedPort;
        try (FakeUpstream sink = sink()) {
            closedPort = sink.port();
        }
        LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(new InetSocketAddress("127.0.0.1", closedPort),
                2, 10, 1024, 1, null, PKI.caCertificate(), Duration.ofSeconds(30), "refused"));
        assertEquals(0, result.accepted());
        assertEquals(10, result.failed());
    }

    @Test
    void cpuMetersReadThisProcessAndTheMachine() {
        long spin = System.nanoTime() + Duration.ofMillis(200).toNanos();
        long x = 0;
        while (System.nanoTime() < spin) {
            x += System.nanoTime() % 7;
        }
        assertTrue(x > 0);
        assertTrue(CpuMeter.threadsNanos(List.of(Thread.currentThread().getName())) >= Duration.ofMillis(100).toNanos());
        assertTrue(CpuMeter.processTreeNanos(ProcessHandle.current().pid()) >= Duration.ofMillis(100).toNanos());
        assertTrue(CpuMeter.machineNanos() > 0);
    }
}

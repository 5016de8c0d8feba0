package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.smtptlsproxy.server.lifecycle.ConfigReloader;

/**
 * Inbound resumption with BoringSSL, on real sockets: a sender that keeps its session resumes
 * (session ID or ticket in TLS 1.2, ticket in TLS 1.3) and is counted so, also after a SIGHUP
 * reload has rebuilt the listener's TLS context, and across one rotation of the ticket keys.
 */
@Timeout(90)
class InboundResumptionTest {

    private static final String SERIES = "smtp_proxy_tls_inbound_handshakes_total";

    private static double handshakes(ProxyFixture fixture, String protocol, boolean resumed) {
        String series = SERIES + "{listener=\"starttls\",protocol=\"" + protocol + "\",resumed=\"" + resumed + "\"} ";
        String metrics = fixture.metrics();
        return metrics.lines().filter(l -> l.startsWith(series)).mapToDouble(l -> Double.parseDouble(l.substring(series.length())))
                .findFirst().orElseThrow(() -> new AssertionError(series + "missing in " + StartTlsSender.lines(metrics, SERIES)));
    }

    private static SSLContext newSender() throws Exception {
        return StartTlsSender.trusting(ProxyFixture.PKI.caCertificate());
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.2", "TLSv1.3"})
    void aSenderThatKeepsItsSessionResumesAndIsCountedResumed(String protocol) throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().tlsProvider("openssl").start()) {
            InetSocketAddress address = fixture.address("starttls");
            assertEquals(0, handshakes(fixture, protocol, true), "the series exist from the start");
            SSLContext sender = newSender();
            StartTlsSender.startTls(sender, address, protocol);
            StartTlsSender.startTls(sender, address, protocol);
            StartTlsSender.startTls(newSender(), address, protocol); // a sender without a session
            assertEquals(2, handshakes(fixture, protocol, false));
            assertEquals(1, handshakes(fixture, protocol, true));
            assertTrue(fixture.metrics().contains("smtp_proxy_tls_sessions_resumed_total{side=\"inbound\"} 1.0"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.2", "TLSv1.3"})
    void aTicketFromBeforeAReloadStillResumes(String protocol) throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().tlsProvider("openssl").start()) {
            InetSocketAddress address = fixture.address("starttls");
            SSLContext sender = newSender();
            StartTlsSender.startTls(sender, address, protocol);
            var before = fixture.proxy.runtime().config();
            assertTrue(new ConfigReloader(fixture.directory.resolve("config.yaml"), fixture.proxy).reload());
            assertTrue(before != fixture.proxy.runtime().config(), "the reload built a new config and TLS contexts");
            StartTlsSender.startTls(sender, address, protocol);
            assertEquals(1, handshakes(fixture, protocol, false));
            assertEquals(1, handshakes(fixture, protocol, true), "resumed across the reload");
        }
    }

    @Test
    void aTicketOutlivesOneRotationOfTheKeysButNotTwo() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().tlsProvider("openssl").start()) {
            InetSocketAddress address = fixture.address("starttls");
            SSLContext first = newSender();
            SSLContext second = newSender();
            StartTlsSender.startTls(first, address, "TLSv1.2");
            StartTlsSender.startTls(second, address, "TLSv1.2");
            fixture.proxy.runtime().rotateTicketKeys();
            StartTlsSender.startTls(first, address, "TLSv1.2");
            assertEquals(1, handshakes(fixture, "TLSv1.2", true), "the previous key still decrypts");
            fixture.proxy.runtime().rotateTicketKeys();
            StartTlsSender.startTls(second, address, "TLSv1.2");
            assertEquals(1, handshakes(fixture, "TLSv1.2", true), "a ticket two rotations old is refused");
            assertEquals(3, handshakes(fixture, "TLSv1.2", false));
        }
    }

    /** A session-ID resumption (no ticket), as OpenSSL senders with tickets off or an old Postfix do. */
    @Test
    void aSessionIdResumes() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().tlsProvider("openssl").start()) {
            Path session = fixture.directory.resolve("tls12.session");
            String full = sClient(fixture, "-tls1_2", "-no_ticket", "-sess_out", session.toString());
            assertTrue(full.contains("New, TLSv1.2"), full);
            String resumed = sClient(fixture, "-tls1_2", "-no_ticket", "-sess_in", session.toString());
            assertTrue(resumed.contains("Reused, TLSv1.2"), resumed);
            assertEquals(1, handshakes(fixture, "TLSv1.2", true));
            assertEquals(1, handshakes(fixture, "TLSv1.2", false));
        }
    }

    /** {@code openssl s_client -starttls smtp} with {@code options}; its output. Skips the test without openssl. */
    static String sClient(ProxyFixture fixture, String... options) throws IOException, InterruptedException {
        Path ca = fixture.directory.resolve("ca.pem");
        List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect",
                "127.0.0.1:" + fixture.address("starttls").getPort(), "-starttls", "smtp", "-CAfile", ca.toString(), "-crlf"));
        command.addAll(List.of(options));
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "openssl is not installed: " + e.getMessage());
            throw e;
        }
        process.getOutputStream().write("QUIT\n".getBytes(StandardCharsets.US_ASCII));
        process.getOutputStream().close();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("openssl s_client did not finish");
        }
        return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

}

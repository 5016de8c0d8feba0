package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** Behind a load balancer: the PROXY header's source is the client, and only trusted peers may send one. */
@Timeout(60)
class ProxyProtocolTest {

    private static final byte[] MESSAGE = "Subject: via the load balancer\r\n\r\nhi\r\n".getBytes(StandardCharsets.US_ASCII);

    private static ProxyFixture behindLoadBalancer(String trusted, String allowed) throws Exception {
        return ProxyFixture.builder()
                .plainListener("proxy_protocol: true")
                .plainListener("trusted_proxies: [" + trusted + "]")
                .plainListener("allowed_clients: [" + allowed + "]")
                .smtpsListener("proxy_protocol: true")
                .smtpsListener("trusted_proxies: [" + trusted + "]")
                .smtpsListener("allowed_clients: [" + allowed + "]")
                .start();
    }

    private static byte[] v1(String source, int sourcePort) {
        return ("PROXY TCP4 " + source + " 127.0.0.1 " + sourcePort + " 25\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** PROXY v2, PROXY command, TCP over IPv4 (RFC-like layout from the HAProxy spec, section 2.2). */
    private static byte[] v2(int[] source, int sourcePort) {
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        header.writeBytes(HexFormat.of().parseHex("0d0a0d0a000d0a515549540a"));
        header.write(0x21); // version 2, PROXY
        header.write(0x11); // AF_INET, STREAM
        header.write(0);
        header.write(12);
        for (int octet : source) {
            header.write(octet);
        }
        header.writeBytes(new byte[] {127, 0, 0, 1});
        header.write(sourcePort >> 8);
        header.write(sourcePort & 0xFF);
        header.write(0);
        header.write(25);
        return header.toByteArray();
    }

    private static void relay(SmtpTestClient client) throws Exception {
        client.ehlo("printer.example");
        SmtpTestClient.Reply reply = client.sendMessage("scanner@legacy.example", List.of("b@contoso.example"), MESSAGE);
        assertEquals(250, reply.code(), reply.toString());
    }

    @Test
    void aV1HeaderNamesTheClientForTheAllowListAndTheReceivedHeader() throws Exception {
        try (ProxyFixture fixture = behindLoadBalancer("127.0.0.1/32", "192.0.2.0/24")) {
            InetSocketAddress plain = fixture.address("plain");
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                SmtpTestClient.Reply banner = client.connectBehindProxy(plain.getHostString(), plain.getPort(), v1("192.0.2.10", 40000));
                assertEquals(220, banner.code(), banner.toString());
                relay(client);
            }
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(10)));
            String content = fixture.upstream.messages().get(0).content();
            assertTrue(content.startsWith("Received: from printer.example ([192.0.2.10])"), content);
        }
    }

    @Test
    void aV2HeaderWorksToo() throws Exception {
        try (ProxyFixture fixture = behindLoadBalancer("127.0.0.1/32", "198.51.100.0/24")) {
            InetSocketAddress plain = fixture.address("plain");
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                client.connectBehindProxy(plain.getHostString(), plain.getPort(), v2(new int[] {198, 51, 100, 7}, 51000));
                relay(client);
            }
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(10)));
            assertTrue(fixture.upstream.messages().get(0).content().startsWith("Received: from printer.example ([198.51.100.7])"));
        }
    }

    @Test
    void theAllowListJudgesTheHeadersSourceNotTheLoadBalancer() throws Exception {
        try (ProxyFixture fixture = behindLoadBalancer("127.0.0.1/32", "192.0.2.0/24")) {
            InetSocketAddress plain = fixture.address("plain");
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                SmtpTestClient.Reply banner = client.connectBehindProxy(plain.getHostString(), plain.getPort(), v1("203.0.113.5", 40000));
                assertEquals(554, banner.code(), banner.toString());
            }
            assertTrue(fixture.metrics().contains(
                    "smtp_proxy_connections_rejected_total{listener=\"plain\",reason=\"not_allowed\"} 1.0"), fixture.metrics());
        }
    }

    @Test
    void anUntrustedPeerOrAMissingHeaderIsClosedAndCounted() throws Exception {
        try (ProxyFixture untrusted = behindLoadBalancer("10.0.0.0/8", "192.0.2.0/24")) {
            assertClosedWithoutBanner(untrusted.address("plain"), v1("192.0.2.10", 40000));
            assertRejected(untrusted, 1);
        }
        try (ProxyFixture fixture = behindLoadBalancer("127.0.0.1/32", "127.0.0.0/8")) {
            assertClosedWithoutBanner(fixture.address("plain"), "EHLO printer.example\r\n".getBytes(StandardCharsets.US_ASCII));
            assertClosedWithoutBanner(fixture.address("plain"), "PROXY TCP4 not-an-address 127.0.0.1 1 25\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            // Leading zeros: octal to some parsers, decimal to others; refused like any malformed header.
            assertClosedWithoutBanner(fixture.address("plain"), v1("127.000.000.010", 40000));
            assertRejected(fixture, 3);
            // The load balancer's own health check (PROXY UNKNOWN) is served as from the balancer.
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                InetSocketAddress plain = fixture.address("plain");
                SmtpTestClient.Reply banner = client.connectBehindProxy(plain.getHostString(), plain.getPort(),
                        "PROXY UNKNOWN\r\n".getBytes(StandardCharsets.US_ASCII));
                assertEquals(220, banner.code(), banner.toString());
            }
        }
    }

    @Test
    void implicitTlsFollowsTheHeader() throws Exception {
        try (ProxyFixture fixture = behindLoadBalancer("127.0.0.1/32", "192.0.2.0/24")) {
            InetSocketAddress smtps = fixture.address("smtps");
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                SmtpTestClient.Reply banner = client.connectImplicitTls(smtps.getHostString(), smtps.getPort(),
                        v1("192.0.2.20", 40001), fixture.trust("TLSv1"));
                assertEquals(220, banner.code(), banner.toString());
                assertEquals("TLSv1", client.tlsProtocol());
                relay(client);
            }
            assertTrue(fixture.upstream.awaitMessages(1, Duration.ofSeconds(10)));
            assertTrue(fixture.upstream.messages().get(0).content().startsWith("Received: from printer.example ([192.0.2.20])"));
        }
    }

    private static void assertClosedWithoutBanner(InetSocketAddress address, byte[] firstBytes) throws Exception {
        try (Socket socket = new Socket(address.getHostString(), address.getPort())) {
            socket.setSoTimeout(15_000);
            socket.getOutputStream().write(firstBytes);
            InputStream in = socket.getInputStream();
            try {
                assertEquals(-1, in.read(), "closed without a word");
            } catch (SocketException reset) {
                // Closed with our bytes unread: the kernel answers with a reset, which is a close too.
                assertTrue(String.valueOf(reset.getMessage()).contains("reset"), reset.toString());
            }
        }
    }

    private static void assertRejected(ProxyFixture fixture, int count) throws Exception {
        String line = "smtp_proxy_connections_rejected_total{listener=\"plain\",reason=\"proxy_protocol_error\"} " + count + ".0";
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!fixture.metrics().contains(line) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(fixture.metrics().contains(line), fixture.metrics());
    }
}

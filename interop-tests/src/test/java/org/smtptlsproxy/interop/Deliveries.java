package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.regex.Matcher;

/** The checks every relayed message gets at the upstream. */
final class Deliveries {

    private Deliveries() {
    }

    /**
     * The message is in the upstream's mailbox exactly once, below the trace fields it is the
     * octets that were sent, the proxy's Received header has its documented form and names the
     * inbound protocol ("ESMTPS" etc. and the TLS version, or none), and the upstream's own
     * Received header shows TLS 1.2 or 1.3 between proxy and upstream.
     *
     * @param inboundTls the TLS version the sender used towards the proxy, or null for plaintext
     */
    static DeliveredMessage assertRelayed(Mailbox mailbox, String token, byte[] sent, String protocol, String inboundTls)
            throws IOException {
        DeliveredMessage delivered = mailbox.await(token, Duration.ofSeconds(60));
        delivered.assertContentIs(sent);
        Matcher proxy = delivered.proxyReceived();
        assertEquals(protocol, proxy.group(2), "the proxy's Received names the inbound protocol: " + proxy.group());
        assertEquals(inboundTls, proxy.group(3), "the proxy's Received names the inbound TLS version: " + proxy.group());
        String upstream = delivered.upstreamReceived();
        assertTrue(upstream.matches(".*\\(using TLSv1\\.[23] with cipher .*"),
                "the upstream received the message over TLS 1.2+: " + upstream);
        assertEquals(1, mailbox.find(token).size(), "delivered once");
        return delivered;
    }
}

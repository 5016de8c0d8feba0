package org.smtptlsproxy.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ClientRegistryTest {

    @Test
    void everyProtocolStaysWithItsFirstAndLastTime() throws InterruptedException {
        ClientRegistry registry = new ClientRegistry();
        registry.sessionEnded("192.0.2.7", "smtp", "TLSv1", "TLS_RSA_WITH_AES_128_CBC_SHA");
        Thread.sleep(5);
        registry.sessionEnded("192.0.2.7", "smtp", "none", "none");
        Thread.sleep(5);
        registry.transactionEnded("192.0.2.7", "smtp", "none", "none", ProxyMetrics.MessageOutcome.RELAYED);
        ClientRegistry.ClientActivity client = registry.snapshot().get(0);
        assertEquals(List.of("TLSv1", "none"), List.copyOf(client.protocolsSeen().keySet()));
        ClientRegistry.ProtocolSeen tls10 = client.protocolsSeen().get("TLSv1");
        ClientRegistry.ProtocolSeen plain = client.protocolsSeen().get("none");
        assertEquals(tls10.firstSeen(), tls10.lastSeen());
        assertTrue(plain.lastSeen().isAfter(plain.firstSeen()), "the transaction moved plaintext's last time");
        assertEquals("none", client.tlsProtocol(), "the last session's protocol, as before");
        String json = registry.toJson();
        assertTrue(json.contains("\"tls_protocols_seen\":{\"TLSv1\":{\"first_seen\":\"" + tls10.firstSeen() + "\""), json);
    }

    @Test
    void memoryIsBoundedInAddressesAndInProtocolsPerAddress() {
        ClientRegistry registry = new ClientRegistry(3);
        for (int i = 0; i < 10; i++) {
            registry.sessionEnded("192.0.2." + i, "smtp", "TLSv1.2", "x");
        }
        assertEquals(3, registry.snapshot().size());
        for (int i = 0; i < 50; i++) {
            registry.sessionEnded("192.0.2.9", "smtp", "GARBLED" + i, "x");
        }
        assertEquals(List.of("TLSv1.2", "other"), List.copyOf(registry.snapshot().get(0).protocolsSeen().keySet()));
    }
}

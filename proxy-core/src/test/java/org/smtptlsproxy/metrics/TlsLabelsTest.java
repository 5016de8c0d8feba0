package org.smtptlsproxy.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.tls.TlsContextFactory;

@Timeout(30)
class TlsLabelsTest {

    @Test
    void everySuiteTheProxyOffersIsItsOwnLabel() {
        for (String suite : TlsContextFactory.DEFAULT_INBOUND_CIPHERS) {
            assertEquals(suite, TlsLabels.cipher(suite));
        }
        assertTrue(TlsLabels.ciphers().size() < 200, "a bounded set: " + TlsLabels.ciphers().size());
    }

    @Test
    void anythingElseIsOther() {
        assertEquals("other", TlsLabels.cipher("TLS_FROM_THE_FUTURE_WITH_QUANTUM_SHA512"));
        assertEquals("other", TlsLabels.cipher(null));
        assertEquals("other", TlsLabels.cipher("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"));
        assertEquals("TLSv1", TlsLabels.protocol("TLSv1"));
        assertEquals("other", TlsLabels.protocol("DTLSv1.2"));
    }

    @Test
    void unknownCiphersShareOneSeries() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        ProxyMetrics metrics = new ProxyMetrics(registry);
        for (int i = 0; i < 100; i++) {
            metrics.tlsHandshake(ProxyMetrics.Side.INBOUND, "TLSv1.2", "TLS_MADE_UP_" + i, 1_000_000);
        }
        String scrape = registry.scrape();
        assertTrue(scrape.contains("smtp_proxy_tls_handshake_cipher_seconds_count{cipher=\"other\",protocol=\"TLSv1.2\","
                + "side=\"inbound\"} 100"), scrape);
        assertEquals(1, scrape.lines().filter(l -> l.startsWith("smtp_proxy_tls_handshake_cipher_seconds_count")).count());
    }
}

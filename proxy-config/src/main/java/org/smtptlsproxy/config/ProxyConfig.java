package org.smtptlsproxy.config;

import java.time.Duration;
import java.util.List;

/** The whole configuration file, validated. Core code sees only these records, never YAML. */
public record ProxyConfig(
        String hostname,
        TlsProvider tlsProvider,
        List<ListenerConfig> listeners,
        UpstreamConfig upstream,
        Limits limits,
        boolean receivedHeader,
        Duration drainTimeout,
        MetricsConfig metrics,
        LoggingConfig logging,
        SpoolConfig spool) {

    public ProxyConfig {
        listeners = List.copyOf(listeners);
        if (spool == null) {
            spool = SpoolConfig.none();
        }
    }

    /** A configuration without a spool. */
    public ProxyConfig(String hostname, TlsProvider tlsProvider, List<ListenerConfig> listeners, UpstreamConfig upstream,
            Limits limits, boolean receivedHeader, Duration drainTimeout, MetricsConfig metrics, LoggingConfig logging) {
        this(hostname, tlsProvider, listeners, upstream, limits, receivedHeader, drainTimeout, metrics, logging,
                SpoolConfig.none());
    }

    /** True when some listener spools. */
    public boolean spools() {
        return listeners.stream().anyMatch(listener -> listener.delivery() == DeliveryMode.SPOOL);
    }
}

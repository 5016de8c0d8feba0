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
        LoggingConfig logging) {

    public ProxyConfig {
        listeners = List.copyOf(listeners);
    }
}

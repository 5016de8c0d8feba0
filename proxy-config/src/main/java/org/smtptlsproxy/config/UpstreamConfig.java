package org.smtptlsproxy.config;

import java.time.Duration;
import java.util.List;

/** Where and how every message is re-originated. There is no plaintext mode. */
public record UpstreamConfig(
        HostPort address,
        UpstreamTls tls,
        UpstreamAuth auth,
        List<HostPort> fallbackHosts,
        Duration connectTimeout,
        Duration commandTimeout,
        PoolConfig pool) {

    public UpstreamConfig {
        fallbackHosts = List.copyOf(fallbackHosts);
    }
}

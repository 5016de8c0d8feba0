package org.smtptlsproxy.config;

/** The HTTP endpoint for /metrics, /health, /ready and /clients. */
public record MetricsConfig(HostPort address) {
}

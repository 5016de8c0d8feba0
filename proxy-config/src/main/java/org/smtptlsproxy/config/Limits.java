package org.smtptlsproxy.config;

import java.time.Duration;

public record Limits(
        DataSize maxMessageSize,
        int maxRecipients,
        int maxConnections,
        int maxConnectionsPerClient,
        Duration idleTimeout,
        BareNewlines bareNewlines,
        int authFailuresPerClient,
        Duration authFailureWindow) {
}

package org.smtptlsproxy.config;

import java.time.Duration;

/** Warm upstream sessions kept for reuse; {@code maxIdle == 0} disables pooling. */
public record PoolConfig(int maxIdle, Duration idleTimeout) {
}

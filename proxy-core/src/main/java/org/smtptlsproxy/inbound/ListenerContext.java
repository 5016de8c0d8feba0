package org.smtptlsproxy.inbound;

import io.netty.handler.ssl.SslContext;
import java.util.concurrent.Executor;
import org.smtptlsproxy.auth.UserDirectory;
import org.smtptlsproxy.delivery.Delivery;
import org.smtptlsproxy.config.Limits;
import org.smtptlsproxy.config.ListenerConfig;
import org.smtptlsproxy.metrics.ClientRegistry;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.outbound.UpstreamPool;

/**
 * Everything a session on one listener needs, built once per configuration. A reload builds a new
 * one; sessions keep the one they started with.
 *
 * @param tls          null for a listener without TLS
 * @param users        null unless the listener has inbound AUTH
 * @param blockingWork runs password checks, never on an event loop
 * @param delivery     where the listener's messages go (cut-through for every listener today)
 */
public record ListenerContext(
        ListenerConfig listener,
        SslContext tls,
        String hostname,
        Limits limits,
        boolean receivedHeader,
        UpstreamPool upstream,
        ProxyMetrics metrics,
        ConnectionLimiter limiter,
        AuthThrottle authThrottle,
        ClientRegistry clients,
        Shutdown shutdown,
        UserDirectory users,
        Executor blockingWork,
        Delivery delivery) {

    public String name() {
        return listener.name();
    }
}

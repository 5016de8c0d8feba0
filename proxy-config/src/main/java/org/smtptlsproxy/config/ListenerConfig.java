package org.smtptlsproxy.config;

import java.util.List;

/** One inbound SMTP listener. */
public record ListenerConfig(
        String name,
        HostPort address,
        InboundTls tls,
        boolean requireTls,
        boolean proxyProtocol,
        List<Cidr> trustedProxies,
        List<Cidr> allowedClients,
        List<String> allowedSenders,
        InboundAuth auth) {

    public ListenerConfig {
        trustedProxies = List.copyOf(trustedProxies);
        allowedClients = List.copyOf(allowedClients);
        allowedSenders = List.copyOf(allowedSenders);
    }
}

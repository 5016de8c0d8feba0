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
        InboundAuth auth,
        DeliveryMode delivery) {

    public ListenerConfig {
        trustedProxies = List.copyOf(trustedProxies);
        allowedClients = List.copyOf(allowedClients);
        allowedSenders = List.copyOf(allowedSenders);
        if (delivery == null) {
            delivery = DeliveryMode.CUT_THROUGH;
        }
    }

    /** A cut-through listener (the default {@code delivery}). */
    public ListenerConfig(String name, HostPort address, InboundTls tls, boolean requireTls, boolean proxyProtocol,
            List<Cidr> trustedProxies, List<Cidr> allowedClients, List<String> allowedSenders, InboundAuth auth) {
        this(name, address, tls, requireTls, proxyProtocol, trustedProxies, allowedClients, allowedSenders, auth,
                DeliveryMode.CUT_THROUGH);
    }
}

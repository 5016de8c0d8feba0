package org.smtptlsproxy.config;

import java.util.List;

/**
 * Inbound TLS of a listener. {@code identity} is null exactly when {@code mode} is NONE.
 * {@code protocols} are JSSE names (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3); an empty {@code ciphers}
 * list means "the product's broad default set".
 */
public record InboundTls(InboundTlsMode mode, TlsIdentity identity, List<String> protocols, List<String> ciphers) {

    public InboundTls {
        protocols = List.copyOf(protocols);
        ciphers = List.copyOf(ciphers);
    }
}

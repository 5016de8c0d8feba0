package org.smtptlsproxy.config;

import java.util.List;

/**
 * Outbound TLS. {@code minProtocol} is "TLSv1.2" or "TLSv1.3" (nothing lower ever validates).
 * {@code serverName} is null when the host name is to be used; {@code clientIdentity} is null
 * unless a client certificate is configured. Empty {@code ciphers}: ECDHE with AEAD only.
 */
public record UpstreamTls(
        UpstreamTlsMode mode,
        String minProtocol,
        List<String> ciphers,
        boolean verifyHostname,
        String serverName,
        TrustSource trust,
        TlsIdentity clientIdentity) {

    public UpstreamTls {
        ciphers = List.copyOf(ciphers);
    }
}

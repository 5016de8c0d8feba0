package org.smtptlsproxy.config;

import java.time.Duration;
import java.util.List;

/**
 * Inbound TLS of a listener. {@code identity} is null exactly when {@code mode} is NONE.
 * {@code ecIdentity} is the optional second certificate (ECDSA) served to clients that can use it,
 * {@code identity} then holds an RSA key for the rest. {@code protocols} are JSSE names (TLSv1,
 * TLSv1.1, TLSv1.2, TLSv1.3); an empty {@code ciphers} list means "the product's broad default
 * set". {@code sessionCacheSize} and {@code sessionTimeout} bound the resumable sessions (cached
 * session IDs, and how long a ticket or cached session stays valid).
 */
public record InboundTls(InboundTlsMode mode, TlsIdentity identity, TlsIdentity ecIdentity, List<String> protocols,
                         List<String> ciphers, int sessionCacheSize, Duration sessionTimeout) {

    public static final int DEFAULT_SESSION_CACHE_SIZE = 20_480;
    /** As Postfix's smtpd_tls_session_cache_timeout: an hour. */
    public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofHours(1);

    public InboundTls {
        protocols = List.copyOf(protocols);
        ciphers = List.copyOf(ciphers);
    }

    /** A listener with one certificate and the default session cache. */
    public InboundTls(InboundTlsMode mode, TlsIdentity identity, List<String> protocols, List<String> ciphers) {
        this(mode, identity, null, protocols, ciphers, DEFAULT_SESSION_CACHE_SIZE, DEFAULT_SESSION_TIMEOUT);
    }

    /** The certificates served, RSA (or the only one) first. */
    public List<TlsIdentity> identities() {
        if (identity == null) {
            return List.of();
        }
        return ecIdentity == null ? List.of(identity) : List.of(identity, ecIdentity);
    }
}

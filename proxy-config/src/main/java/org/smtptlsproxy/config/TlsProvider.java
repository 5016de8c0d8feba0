package org.smtptlsproxy.config;

/** Which TLS implementation to use: BoringSSL through netty-tcnative, or the JDK's JSSE. */
public enum TlsProvider {
    /** BoringSSL if it loads on this platform, otherwise the JDK. */
    AUTO,
    OPENSSL,
    JDK
}

package org.smtptlsproxy.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslCredential;
import io.netty.handler.ssl.OpenSslCredentialBuilder;
import io.netty.handler.ssl.OpenSslServerSessionContext;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import org.smtptlsproxy.config.InboundTls;
import org.smtptlsproxy.config.TlsIdentity;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.config.UpstreamTls;

/**
 * Builds the {@link SslContext}s of one configuration: one per listener, one for the upstream.
 * Contexts are built once per config (handshakes then share their session caches); SIGHUP builds
 * a new set rather than mutating these.
 */
public final class TlsContextFactory {

    /** TLS 1.3 suites: both providers understand these names. */
    private static final List<String> TLS13 = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");

    /** Upstream default: ECDHE with AEAD only; Exchange Online meets it with ECDHE-RSA-AES-GCM or TLS 1.3. */
    public static final List<String> DEFAULT_OUTBOUND_CIPHERS = concat(TLS13, List.of(
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));

    /**
     * Inbound default: modern suites first, then the CBC-SHA suites that TLS 1.0/1.1 senders
     * (Windows Server 2008/Exchange 2010, OpenSSL 0.9.8/1.0.x, printer firmware) actually offer.
     * No 3DES or RC4: BoringSSL has neither, and a sender limited to them is beyond saving.
     */
    public static final List<String> DEFAULT_INBOUND_CIPHERS = concat(DEFAULT_OUTBOUND_CIPHERS, List.of(
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_256_CBC_SHA"));

    private final SslProvider provider;

    private TlsContextFactory(SslProvider provider) {
        this.provider = provider;
    }

    /**
     * @throws IllegalStateException when {@code openssl} is demanded but BoringSSL cannot load here
     */
    public static TlsContextFactory forProvider(TlsProvider choice) {
        return new TlsContextFactory(switch (choice) {
            case JDK -> SslProvider.JDK;
            case AUTO -> OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
            case OPENSSL -> {
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("tls_provider openssl: BoringSSL (netty-tcnative) is not available "
                            + "on this platform: " + OpenSsl.unavailabilityCause());
                }
                yield SslProvider.OPENSSL;
            }
        });
    }

    public SslProvider provider() {
        return provider;
    }

    /** "BoringSSL" or "JDK", for `version`, the startup log and the demo. */
    public String providerName() {
        return describe(provider);
    }

    public static String describe(SslProvider provider) {
        return provider == SslProvider.JDK ? "JDK " + System.getProperty("java.version") : OpenSsl.versionString();
    }

    /** A listener's context without shared ticket keys (BoringSSL then makes its own): for `check`. */
    public SslContext serverContext(InboundTls tls) throws SSLException {
        return serverContext(tls, "", null);
    }

    /**
     * A listener's context. With {@code tls.ecIdentity()} it holds two certificates and serves the
     * ECDSA one to clients that can use it (an ECDHE-ECDSA suite in TLS 1.0-1.2, an ECDSA signature
     * scheme in TLS 1.3), the RSA one to the rest. Resumption: session IDs in a cache of
     * {@code sessionCacheSize} sessions, and tickets encrypted with {@code ticketKeys}, which
     * outlive this context (a reload builds a new one and senders still resume); both expire after
     * {@code sessionTimeout}. {@code listener} names the session ID context, so that a session
     * resumes only on the listener that made it.
     */
    public SslContext serverContext(InboundTls tls, String listener, TicketKeys ticketKeys) throws SSLException {
        TlsIdentity identity = tls.identity();
        OpenSslCredential ecCredential = null;
        SslContext context;
        try {
            SslContextBuilder builder;
            if (tls.ecIdentity() != null && provider == SslProvider.JDK) {
                // The JDK's key manager is asked for a key type per suite (TLS 1.0-1.2) or per
                // signature scheme the client offers (TLS 1.3) and answers with the entry of that type.
                builder = SslContextBuilder.forServer(DualKeyManager.factory(identity, tls.ecIdentity()));
            } else {
                builder = SslContextBuilder.forServer(identity.key(), identity.chain());
                if (tls.ecIdentity() != null) {
                    // A BoringSSL credential: BoringSSL takes the first one the client can use,
                    // the ECDSA one before the RSA certificate of the key manager. Two entries in
                    // Netty's key manager would not do: in TLS 1.0-1.2 it picks by the server's
                    // own cipher order and would hand RSA-only senders the ECDSA certificate.
                    ecCredential = OpenSslCredentialBuilder.forX509(tls.ecIdentity().key(), chain(tls.ecIdentity())).build();
                    builder.addCredential(ecCredential);
                }
            }
            context = builder
                    .sslProvider(provider)
                    .protocols(tls.protocols())
                    .ciphers(tls.ciphers().isEmpty() ? DEFAULT_INBOUND_CIPHERS : tls.ciphers(), SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(ApplicationProtocolConfig.DISABLED)
                    .sessionCacheSize(tls.sessionCacheSize())
                    .sessionTimeout(tls.sessionTimeout().toSeconds())
                    .build();
        } finally {
            if (ecCredential != null) {
                ecCredential.release(); // the context holds its own reference
            }
        }
        if (context.sessionContext() instanceof OpenSslServerSessionContext sessions) {
            sessions.setSessionIdContext(sessionIdContext(listener));
            if (ticketKeys != null) {
                // Also turns tickets on for TLS 1.0-1.2, which Netty leaves off unless TLS 1.3
                // is enabled: a listener of legacy senders wants them as much.
                ticketKeys.applyTo(context);
            }
        }
        return context;
    }

    /** At most 32 octets (SSL_MAX_SID_CTX_LENGTH), the same for the same listener in every context. */
    static byte[] sessionIdContext(String listener) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(("smtp-tls-proxy listener " + listener).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }

    private static X509Certificate[] chain(TlsIdentity identity) {
        return identity.chain().toArray(X509Certificate[]::new);
    }

    /**
     * The upstream context: TLS 1.2+ only whatever the config says (validation already refuses
     * less; this is the second lock), chain verification always, host name verification unless
     * the administrator turned it off.
     */
    public SslContext clientContext(UpstreamTls tls) throws SSLException {
        return clientContext(tls, null);
    }

    /**
     * The same context, with {@code trustManager} deciding (null: the configured anchors). For
     * {@code probe}, whose {@link ChainRecordingTrustManager} decides as the configured anchors would.
     */
    public SslContext clientContext(UpstreamTls tls, TrustManager trustManager) throws SSLException {
        SslContextBuilder builder = SslContextBuilder.forClient()
                .sslProvider(provider)
                .protocols(outboundProtocols(tls.minProtocol()))
                .ciphers(tls.ciphers().isEmpty() ? DEFAULT_OUTBOUND_CIPHERS : tls.ciphers(), SupportedCipherSuiteFilter.INSTANCE)
                .endpointIdentificationAlgorithm(tls.verifyHostname() ? "HTTPS" : null);
        if (trustManager != null) {
            builder.trustManager(trustManager);
        } else if (!tls.trust().isSystem()) {
            builder.trustManager(tls.trust().certificates());
        }
        if (tls.clientIdentity() != null) {
            builder.keyManager(tls.clientIdentity().key(), tls.clientIdentity().chain());
        }
        return builder.build();
    }

    static String[] outboundProtocols(String minProtocol) {
        return "TLSv1.3".equals(minProtocol) ? new String[] {"TLSv1.3"} : new String[] {"TLSv1.3", "TLSv1.2"};
    }

    private static List<String> concat(List<String> a, List<String> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
    }
}

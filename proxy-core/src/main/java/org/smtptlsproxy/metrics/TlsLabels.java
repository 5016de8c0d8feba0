package org.smtptlsproxy.metrics;

import io.netty.handler.ssl.OpenSsl;
import java.security.NoSuchAlgorithmException;
import java.util.Set;
import java.util.TreeSet;
import javax.net.ssl.SSLContext;

/**
 * Label values for negotiated TLS parameters, bounded by construction: a protocol or cipher suite
 * name becomes a label only if it is one that BoringSSL or this JDK can negotiate at all; any
 * other string (a future provider's, a garbled one) becomes {@code other}. Both providers report
 * suites by their IANA/Java names ({@code TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}), so one set
 * serves both.
 */
public final class TlsLabels {

    public static final String OTHER = "other";

    /** Protocol labels: the versions either provider speaks (SSLv3 only ever appears as a failure). */
    public static final Set<String> PROTOCOLS = Set.of("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3");

    private static final Set<String> CIPHERS = negotiableCiphers();

    private TlsLabels() {
    }

    public static String protocol(String protocol) {
        return protocol != null && PROTOCOLS.contains(protocol) ? protocol : OTHER;
    }

    public static String cipher(String cipher) {
        return cipher != null && CIPHERS.contains(cipher) ? cipher : OTHER;
    }

    /** Every suite name either provider can negotiate here; a few dozen, fixed for the process's life. */
    static Set<String> ciphers() {
        return CIPHERS;
    }

    private static Set<String> negotiableCiphers() {
        Set<String> names = new TreeSet<>(Set.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256"));
        try {
            names.addAll(Set.of(SSLContext.getDefault().getSupportedSSLParameters().getCipherSuites()));
        } catch (NoSuchAlgorithmException e) {
            // no JDK TLS at all: only BoringSSL's names can occur
        }
        if (OpenSsl.isAvailable()) {
            names.addAll(OpenSsl.availableJavaCipherSuites());
        }
        names.removeIf(name -> name.endsWith("_SCSV")); // signalling values, never negotiated
        return Set.copyOf(names);
    }
}

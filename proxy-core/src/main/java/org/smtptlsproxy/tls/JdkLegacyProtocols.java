package org.smtptlsproxy.tls;

import java.security.Security;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The JDK disables TLS 1.0 and 1.1 (and, from Java 25, the TLS_RSA_* suites) through
 * {@code jdk.tls.disabledAlgorithms}. Legacy senders need them inbound when the JDK provider is in
 * use. The property is JVM-wide and read once, so this must run before any TLS class is used;
 * the outbound side stays safe because it pins TLSv1.2+ and ECDHE/AEAD suites explicitly.
 */
public final class JdkLegacyProtocols {

    private static final String PROPERTY = "jdk.tls.disabledAlgorithms";

    private JdkLegacyProtocols() {
    }

    public static void enable() {
        String disabled = Security.getProperty(PROPERTY);
        if (disabled == null) {
            return;
        }
        String relaxed = Arrays.stream(disabled.split(","))
                .map(String::strip)
                .filter(entry -> !entry.equals("TLSv1") && !entry.equals("TLSv1.1") && !entry.equals("TLS_RSA_*"))
                .collect(Collectors.joining(", "));
        Security.setProperty(PROPERTY, relaxed);
    }
}

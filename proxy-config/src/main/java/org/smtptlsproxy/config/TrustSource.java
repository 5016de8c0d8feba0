package org.smtptlsproxy.config;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;

/** Trust anchors: the JDK's default CAs ({@code bundle == null}) or the certificates of a PEM bundle. */
public record TrustSource(Path bundle, List<X509Certificate> certificates) {

    public static final TrustSource SYSTEM = new TrustSource(null, List.of());

    public TrustSource {
        certificates = List.copyOf(certificates);
    }

    public boolean isSystem() {
        return bundle == null;
    }
}

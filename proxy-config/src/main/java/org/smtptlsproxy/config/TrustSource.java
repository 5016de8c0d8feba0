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

    /**
     * The certificates of a PEM bundle, read as {@code upstream.tls.trust} reads them.
     *
     * @throws IllegalArgumentException with a plain message when the file is missing or holds no certificate
     */
    public static TrustSource fromPemBundle(Path bundle) {
        return new TrustSource(bundle, PemReader.certificates(bundle));
    }

    public boolean isSystem() {
        return bundle == null;
    }
}

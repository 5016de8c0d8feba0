package org.smtptlsproxy.tls;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.TrustManagerFactory;
import org.smtptlsproxy.config.TrustSource;

/** The JDK's PKIX trust managers for a {@link TrustSource}: its default CAs, or a PEM bundle's certificates. */
public final class TrustAnchors {

    private TrustAnchors() {
    }

    public static TrustManagerFactory factoryFor(TrustSource trust) throws GeneralSecurityException {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        if (trust.isSystem()) {
            factory.init((KeyStore) null);
            return factory;
        }
        KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
        try {
            anchors.load(null, null);
        } catch (IOException impossible) {
            throw new IllegalStateException(impossible); // an empty, in-memory store reads nothing
        }
        List<X509Certificate> certificates = trust.certificates();
        for (int i = 0; i < certificates.size(); i++) {
            anchors.setCertificateEntry("anchor-" + i, certificates.get(i));
        }
        factory.init(anchors);
        return factory;
    }
}

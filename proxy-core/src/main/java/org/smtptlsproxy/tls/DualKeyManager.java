package org.smtptlsproxy.tls;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLException;
import org.smtptlsproxy.config.TlsIdentity;

/**
 * For the JDK provider: a key manager holding an RSA and an ECDSA certificate. The JDK's server
 * asks it for an alias per key type, in its own order of suites (TLS 1.0-1.2) or the client's
 * order of signature schemes (TLS 1.3), so each client gets a certificate it can verify.
 */
final class DualKeyManager {

    /** Lives only in memory; the JDK requires some password for a key entry. */
    private static final char[] NO_PASSWORD = new char[0];

    private DualKeyManager() {
    }

    static KeyManagerFactory factory(TlsIdentity rsa, TlsIdentity ec) throws SSLException {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("rsa", rsa.key(), NO_PASSWORD, rsa.chain().toArray(Certificate[]::new));
            store.setKeyEntry("ec", ec.key(), NO_PASSWORD, ec.chain().toArray(Certificate[]::new));
            // NewSunX509 (PKIX) prefers a certificate valid now and fit for serverAuth over one
            // that is not, where SunX509 takes the first of the right key type.
            KeyManagerFactory factory = KeyManagerFactory.getInstance("PKIX");
            factory.init(store, NO_PASSWORD);
            return factory;
        } catch (GeneralSecurityException | IOException e) {
            throw new SSLException("cannot hold both certificates: " + e.getMessage(), e);
        }
    }
}

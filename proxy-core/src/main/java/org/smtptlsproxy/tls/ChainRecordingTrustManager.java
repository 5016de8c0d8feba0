package org.smtptlsproxy.tls;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.smtptlsproxy.config.TrustSource;

/**
 * Decides exactly as the JDK's PKIX trust manager for the given anchors (host name included, which
 * it checks from the engine's parameters), and remembers the chain the server presented and the
 * verdict. The relay has no use for it; {@code probe} shows an administrator the chain even when
 * verification fails. Written on the event loop, read after the handshake's future completed.
 */
public final class ChainRecordingTrustManager extends X509ExtendedTrustManager {

    private final X509ExtendedTrustManager delegate;
    private volatile List<X509Certificate> chain = List.of();
    private volatile CertificateException failure;

    private ChainRecordingTrustManager(X509ExtendedTrustManager delegate) {
        this.delegate = delegate;
    }

    /** For the JDK's default CAs or the certificates of a PEM bundle, as the relay would trust them. */
    public static ChainRecordingTrustManager forTrust(TrustSource trust) throws GeneralSecurityException {
        TrustManagerFactory factory = TrustAnchors.factoryFor(trust);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509ExtendedTrustManager extended) {
                return new ChainRecordingTrustManager(extended);
            }
        }
        throw new GeneralSecurityException("no X509ExtendedTrustManager from " + factory.getAlgorithm());
    }

    /** What the server presented, leaf first; empty before the handshake reached it. */
    public List<X509Certificate> chain() {
        return chain;
    }

    /** Why the chain or the name was refused; null if accepted (or not yet checked). */
    public CertificateException failure() {
        return failure;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] presented, String authType, SSLEngine engine) throws CertificateException {
        record(presented, () -> delegate.checkServerTrusted(presented, authType, engine));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] presented, String authType, Socket socket) throws CertificateException {
        record(presented, () -> delegate.checkServerTrusted(presented, authType, socket));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] presented, String authType) throws CertificateException {
        record(presented, () -> delegate.checkServerTrusted(presented, authType));
    }

    private void record(X509Certificate[] presented, Check check) throws CertificateException {
        chain = List.of(presented);
        try {
            check.run();
        } catch (CertificateException e) {
            failure = e;
            throw e;
        }
    }

    @FunctionalInterface
    private interface Check {
        void run() throws CertificateException;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return delegate.getAcceptedIssuers();
    }
}

package org.smtptlsproxy.tls;

import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Turns a failed TLS handshake into words and a metric label. The reason (an alert, a PKIX path
 * problem, a name mismatch) is usually several causes deep; the outermost exception just says
 * "handshake failed".
 */
public final class TlsFailures {

    public enum Kind { CERTIFICATE, TIMEOUT, OTHER }

    private TlsFailures() {
    }

    public static Kind classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SslHandshakeTimeoutException) {
                return Kind.TIMEOUT;
            }
            if (t instanceof CertificateException || t instanceof CertPathValidatorException
                    || t instanceof SSLPeerUnverifiedException) {
                return Kind.CERTIFICATE;
            }
        }
        return Kind.OTHER;
    }

    /** The innermost message that says something, e.g. "No subject alternative DNS name matching x found." */
    public static String reason(Throwable failure) {
        String best = null;
        for (Throwable t = failure; t != null; t = t.getCause()) {
            String message = t.getMessage();
            if (message != null && !message.isBlank()) {
                best = message;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        if (best == null) {
            return failure.getClass().getSimpleName();
        }
        // Keep replies and log lines on one line and of a sane length.
        String oneLine = best.replaceAll("[\\r\\n]+", " ").strip();
        return oneLine.length() > 200 ? oneLine.substring(0, 200) + "..." : oneLine;
    }
}

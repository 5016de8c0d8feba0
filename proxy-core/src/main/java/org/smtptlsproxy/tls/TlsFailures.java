package org.smtptlsproxy.tls;

import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Turns a failed TLS handshake into words and a metric label. The reason (an alert, a PKIX path
 * problem, a name mismatch) is usually several causes deep; the outermost exception just says
 * "handshake failed".
 */
public final class TlsFailures {

    public enum Kind { CERTIFICATE, TIMEOUT, OTHER }

    private static final Pattern BORINGSSL_ERROR = Pattern.compile("error:[0-9A-Fa-f]+:[^:]*:[^:]*:(\\w+)");
    private static final Pattern ALERT = Pattern.compile("(?:TLSV1|SSLV3)_ALERT_(\\w+)");
    private static final Pattern NATIVE_CALL_PREFIX = Pattern.compile("^\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ");
    private static final Map<String, String> ALERT_MEANINGS = Map.of(
            "protocol_version", "no TLS version in common",
            "handshake_failure", "no cipher suite or key exchange in common",
            "unknown_ca", "the peer does not trust the certificate's issuer",
            "bad_certificate", "the peer refused the certificate",
            "certificate_expired", "the peer says the certificate expired",
            "unrecognized_name", "the peer has no certificate for the name sent as SNI");

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

    /**
     * A bounded label for the failure counter: protocol_version, no_shared_cipher, certificate,
     * not_tls (plaintext or garbage where a ClientHello belonged), timeout, closed or other.
     */
    public static String label(Throwable failure) {
        if (classify(failure) == Kind.TIMEOUT) {
            return "timeout";
        }
        if (classify(failure) == Kind.CERTIFICATE) {
            return "certificate";
        }
        String text = allMessages(failure).toLowerCase(Locale.ROOT);
        if (text.contains("protocol_version") || text.contains("unsupported_protocol") || text.contains("protocol is disabled")
                || text.contains("no appropriate protocol")) {
            return "protocol_version";
        }
        if (text.contains("no_shared_cipher") || text.contains("no cipher suites in common") || text.contains("no_cipher_match")) {
            return "no_shared_cipher";
        }
        if (text.contains("certificate") || text.contains("unknown_ca") || text.contains("bad_certificate")) {
            return "certificate";
        }
        if (text.contains("wrong_version_number") || text.contains("http_request") || text.contains("not an ssl/tls record")
                || text.contains("unrecognized ssl message") || text.contains("unexpected_record")) {
            return "not_tls";
        }
        if (text.contains("closed") || text.contains("connection reset") || text.contains("broken pipe")) {
            return "closed";
        }
        return "other";
    }

    private static String allMessages(Throwable failure) {
        StringBuilder text = new StringBuilder();
        for (Throwable t = failure; t != null && text.length() < 4096; t = t.getCause()) {
            text.append(t.getClass().getSimpleName()).append(':').append(t.getMessage()).append(' ');
            if (t.getCause() == t) {
                break;
            }
        }
        return text.toString();
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
        String oneLine = plainWords(best.replaceAll("[\\r\\n]+", " ").strip());
        return oneLine.length() > 200 ? oneLine.substring(0, 200) + "..." : oneLine;
    }

    /**
     * BoringSSL's "error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION" and
     * the native transport's "finishConnect(..) failed with error(-111): Connection refused" in the
     * words an administrator searches for: "the peer sent a protocol_version alert (no TLS version
     * in common)", "Connection refused".
     */
    static String plainWords(String message) {
        Matcher boring = BORINGSSL_ERROR.matcher(message);
        if (boring.find()) {
            String code = boring.group(1);
            Matcher alert = ALERT.matcher(code);
            if (alert.matches()) {
                String name = alert.group(1).toLowerCase(Locale.ROOT);
                String meaning = ALERT_MEANINGS.get(name);
                return "the peer sent a " + name + " alert" + (meaning == null ? "" : " (" + meaning + ")");
            }
            return code.toLowerCase(Locale.ROOT).replace('_', ' ');
        }
        return NATIVE_CALL_PREFIX.matcher(message).replaceFirst("");
    }
}

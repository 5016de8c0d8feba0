package org.smtptlsproxy.relay;

import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * The trace header the proxy prepends (RFC 5321 4.4, protocol names from RFC 3848):
 * {@code Received: from HELO ([IP]) by HOST (smtp-tls-proxy) with ESMTPS (TLSv1:CIPHER) id ID; DATE}.
 * Folded before "by" and "with" to keep lines short.
 */
public final class ReceivedHeader {

    private static final DateTimeFormatter RFC5322_DATE =
            DateTimeFormatter.ofPattern("EEE, d MMM yyyy HH:mm:ss Z", Locale.US);

    private ReceivedHeader() {
    }

    /**
     * @param smtpUtf8    the transaction used SMTPUTF8: RFC 6531 4.3 names the protocol UTF8SMTP
     * @param tlsProtocol null when the client did not use TLS
     */
    public static byte[] build(String heloName, String clientIp, String hostname, boolean esmtp, boolean smtpUtf8,
                               boolean authenticated, String tlsProtocol, String tlsCipher, String sessionId,
                               ZonedDateTime now) {
        StringBuilder with = new StringBuilder(smtpUtf8 ? "UTF8SMTP" : esmtp ? "ESMTP" : "SMTP");
        if (tlsProtocol != null) {
            with.append('S');
        }
        if (authenticated) {
            with.append('A');
        }
        StringBuilder header = new StringBuilder(200)
                .append("Received: from ").append(sanitize(heloName)).append(" ([").append(clientIp).append("])\r\n")
                .append("\tby ").append(hostname).append(" (smtp-tls-proxy) with ").append(with);
        if (tlsProtocol != null) {
            header.append(" (").append(tlsProtocol).append(':').append(tlsCipher).append(')');
        }
        header.append("\r\n\tid ").append(sessionId).append("; ").append(RFC5322_DATE.format(now)).append("\r\n");
        return header.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The HELO name is the client's word: keep it to one printable token so it cannot fold or inject. */
    private static String sanitize(String heloName) {
        if (heloName == null || heloName.isEmpty()) {
            return "unknown";
        }
        StringBuilder clean = new StringBuilder(heloName.length());
        for (int i = 0; i < heloName.length() && clean.length() < 255; i++) {
            char c = heloName.charAt(i);
            clean.append(c > ' ' && c < 0x7f && c != '(' && c != ')' ? c : '_');
        }
        return clean.toString();
    }
}
